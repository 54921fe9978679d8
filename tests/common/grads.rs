//! Gradients of a whole method (backbone, heads, loss) for one batch, shared by the backend
//! parity tests and the float64 reference test.

use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::store::{ModuleSnapshot, TensorSnapshot};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor, TensorData};
use selfsup::train::config::Config;
use selfsup::train::methods::{DataInfo, Method, StepBatch, init_portable};

/// A shipped Fashion-MNIST config at width 4.
pub fn tiny_config(method: &str) -> Config {
    let text = std::fs::read_to_string(
        super::repo_root().join(format!("configs/fashion_mnist/{method}.toml")),
    )
    .unwrap();
    Config::from_toml(&text, method, &["model.width=4".to_string()]).unwrap()
}

/// Two augmented views of the first 64 Fashion-MNIST training images, as training makes them.
pub fn real_views(config: &Config) -> Vec<Vec<f32>> {
    super::require_dataset();
    let data = selfsup::data::mnist::load_split(
        std::path::Path::new(super::FASHION_MNIST),
        selfsup::data::Split::Train,
    )
    .unwrap();
    let (mean, std) = data.channel_stats();
    let pipeline = selfsup::augment::ViewPipeline::new(
        config.augment.clone(),
        selfsup::augment::Normalize::new(mean, std),
    );
    let indices: Vec<usize> = (0..64).collect();
    pipeline.batch_views(|i| data.image(i), &indices, 0, 0, 2)
}

/// Grayscale images, one bank row per image of the batch.
fn grayscale(shape: [usize; 4]) -> DataInfo {
    DataInfo {
        channels: 1,
        train_len: shape[0],
    }
}

/// The gradient of every trainable parameter for one loss evaluation on `views`, by name.
pub fn gradients<B: AutodiffBackend, M: Method<B>>(
    config: &Config,
    views: &[Vec<f32>],
    shape: [usize; 4],
) -> Vec<(String, Vec<f32>)> {
    let device = Default::default();
    let model = init_portable::<B, M>(config, &grayscale(shape), &device).unwrap();
    let inputs = views
        .iter()
        .map(|v| Tensor::<B, 4>::from_data(TensorData::new(v.clone(), shape), &device))
        .collect();
    let loss = model.loss(&StepBatch::first(inputs, config.seed)).total;
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    gradient_data::<B, M>(&model, &grads)
        .into_iter()
        .map(|(name, data)| (name, data.to_vec::<f32>().unwrap()))
        .collect()
}

/// The same gradients computed in float64 on the CPU backend: the model's f32 initial weights
/// and the views are widened to f64 and every op runs in f64 (Flex keeps each tensor's dtype).
pub fn gradients_f64<M: Method<Autodiff<Flex>>>(
    config: &Config,
    views: &[Vec<f32>],
    shape: [usize; 4],
) -> Vec<(String, Vec<f64>)> {
    let device = Default::default();
    let initial = init_portable::<Autodiff<Flex>, M>(config, &grayscale(shape), &device).unwrap();
    let widened: Vec<TensorSnapshot> = initial
        .collect(None, None, false)
        .into_iter()
        .map(|s| {
            let data = s.to_data().unwrap().convert::<f64>();
            let mut wide = TensorSnapshot::from_data(
                data,
                s.path_stack.clone().unwrap(),
                s.container_stack.clone().unwrap(),
                s.tensor_id.unwrap(),
            );
            wide.tensor_id = s.tensor_id;
            wide
        })
        .collect();
    let mut model = initial;
    let applied = model.apply(widened, None, None, false);
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    let inputs = views
        .iter()
        .map(|v| {
            let wide: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
            Tensor::<Autodiff<Flex>, 4>::from_data(
                TensorData::new(wide, shape),
                (&device, DType::F64),
            )
        })
        .collect();
    let loss = model.loss(&StepBatch::first(inputs, config.seed)).total;
    assert_eq!(
        loss.dtype(),
        DType::F64,
        "the reference must run in float64"
    );
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    gradient_data::<Autodiff<Flex>, M>(&model, &grads)
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(data.dtype, DType::F64, "{name}");
            (name, data.to_vec::<f64>().unwrap())
        })
        .collect()
}

/// Each trainable parameter's gradient from `grads`, by parameter name.
fn gradient_data<B: AutodiffBackend, M: Method<B>>(
    model: &M,
    grads: &GradientsParams,
) -> Vec<(String, TensorData)> {
    model
        .collect(None, None, false)
        .into_iter()
        .filter_map(|snapshot| {
            let id = snapshot.tensor_id?;
            let data = match snapshot.shape.num_dims() {
                1 => grads.get::<B::InnerBackend, 1>(id).map(|g| g.into_data()),
                2 => grads.get::<B::InnerBackend, 2>(id).map(|g| g.into_data()),
                4 => grads.get::<B::InnerBackend, 4>(id).map(|g| g.into_data()),
                rank => panic!("unexpected rank {rank}"),
            }?;
            Some((snapshot.full_path(), data))
        })
        .collect()
}

/// Per tensor: the largest difference from the f64 reference, divided by the reference
/// tensor's largest entry (floored at 1% of the largest entry of any tensor, since some
/// gradients are zero in exact arithmetic, e.g. a linear bias followed by batch norm).
pub fn relative_errors(
    reference: &[(String, Vec<f64>)],
    measured: &[(String, Vec<f32>)],
) -> Vec<(String, f64)> {
    assert_eq!(reference.len(), measured.len());
    let global = reference
        .iter()
        .flat_map(|(_, r)| r.iter())
        .fold(0f64, |m, x| m.max(x.abs()));
    reference
        .iter()
        .zip(measured)
        .map(|((name, r), (other, m))| {
            assert_eq!(name, other);
            let scale = r
                .iter()
                .fold(0f64, |acc, x| acc.max(x.abs()))
                .max(1e-2 * global);
            let worst = r
                .iter()
                .zip(m)
                .fold(0f64, |acc, (x, y)| acc.max((x - f64::from(*y)).abs()));
            (name.clone(), worst / scale)
        })
        .collect()
}
