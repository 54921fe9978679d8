//! The `[distill]` section: defaults, the student's width, and which key a refusal names.

mod common;

use common::{load, refused_key};
use selfsup_train::config::ConfigError;

const SIMCLR: &str = "method = \"simclr\"\n[model]\nwidth = 16\n";

#[test]
fn the_student_is_half_the_teacher_unless_told() {
    let config = load(SIMCLR).unwrap();
    assert_eq!(config.distill.student_width(config.model.width), 8);
    assert_eq!(config.distill.temperature, 1.0);
    assert_eq!(config.distill.student_width(1), 1, "never width 0");
    let config = load(&format!("{SIMCLR}[distill]\nstudent_width = 16\n")).unwrap();
    assert_eq!(config.distill.student_width(16), 16, "self-distillation");
}

#[test]
fn bad_distill_values_name_their_key() {
    for (line, key) in [
        ("epochs = 0", "distill.epochs"),
        ("batch_size = 0", "distill.batch_size"),
        ("lr = 0.0", "distill.lr"),
        ("temperature = -1.0", "distill.temperature"),
        ("weight_decay = -0.1", "distill.weight_decay"),
    ] {
        assert_eq!(refused_key(&format!("{SIMCLR}[distill]\n{line}\n")), key);
    }
    let unknown = load(&format!("{SIMCLR}[distill]\nstudent_depth = 18\n"));
    assert!(
        matches!(&unknown, Err(ConfigError::Parse { message, .. }) if message.contains("student_depth")),
        "{unknown:?}"
    );
}
