//! The shape arithmetic of one 2-d convolution, shared by the forward and backward kernels.

/// A convolution `[batch, in_channels, height, width]` -> `[batch, out_channels, out_height,
/// out_width]` with a square-or-not kernel, one stride and one symmetric zero padding per axis,
/// no dilation and one group: every convolution of a ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl ConvGeometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding[0] - self.kernel[0]) / self.stride[0] + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding[1] - self.kernel[1]) / self.stride[1] + 1
    }

    /// Output pixels of one image.
    pub fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Input pixels of one image.
    pub fn in_pixels(&self) -> usize {
        self.height * self.width
    }

    /// Rows of the unfolded (im2col) matrix: one per input channel and kernel tap.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// Values of one input image, `[in_channels, height, width]`.
    pub fn image_len(&self) -> usize {
        self.in_channels * self.in_pixels()
    }

    /// Values of one output image, `[out_channels, out_height, out_width]`.
    pub fn out_image_len(&self) -> usize {
        self.out_channels * self.out_pixels()
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.image_len()
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_image_len()
    }

    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    /// A 1x1 convolution with stride 1 and no padding reads each image as it is stored: its
    /// unfolded matrix is the image itself.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Whether the kernel fits inside the padded input (otherwise there is no output pixel).
    pub fn is_valid(&self) -> bool {
        self.kernel[0] >= 1
            && self.kernel[1] >= 1
            && self.stride[0] >= 1
            && self.stride[1] >= 1
            && self.height + 2 * self.padding[0] >= self.kernel[0]
            && self.width + 2 * self.padding[1] >= self.kernel[1]
    }
}
