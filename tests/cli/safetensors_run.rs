//! A run directory whose checkpoints hold one checkpoint.safetensors instead of .npy files gives
//! the same report as the .npy run (float64 tensors are bit-identical); a checkpoint holding both
//! kinds is rejected.

use crate::common;

use std::path::Path;

use common::*;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

fn npy_to_safetensors(cdir: &Path) {
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for name in ["params", "grads", "hessian"] {
        let f = cdir.join(format!("{name}.npy"));
        let (shape, data) = sgd_ou::run::npy::read_f64(&f).unwrap();
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        owned.push((name.to_string(), shape, bytes));
        std::fs::remove_file(&f).unwrap();
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(cdir.join("checkpoint.safetensors"), bytes).unwrap();
}

#[test]
fn safetensors_checkpoints_give_the_same_verdicts() {
    let tmp = tempdir();
    let a = tmp.path().join("npy");
    let b = tmp.path().join("st");
    write_valid_run(&a, 3, 80, 3, 11);
    write_valid_run(&b, 3, 80, 3, 11);
    for step in [100, 200, 300] {
        npy_to_safetensors(&b.join(format!("checkpoints/step_{step}")));
    }
    let opts = sgd_ou::Options::default();
    let ra = sgd_ou::verify(&a, &opts).unwrap();
    let rb = sgd_ou::verify(&b, &opts).unwrap();
    let ja = serde_json::to_value(&ra.assumptions).unwrap();
    let jb = serde_json::to_value(&rb.assumptions).unwrap();
    assert_eq!(ja, jb);
    assert!(rb
        .run
        .inputs
        .iter()
        .any(|f| f.path.ends_with("checkpoint.safetensors")));
}

#[test]
fn both_kinds_in_one_checkpoint_is_an_error() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 40, 3, 1);
    let c = run.join("checkpoints/step_200");
    std::fs::copy(c.join("params.npy"), tmp.path().join("keep.npy")).unwrap();
    npy_to_safetensors(&c);
    std::fs::copy(tmp.path().join("keep.npy"), c.join("params.npy")).unwrap();
    let o = sgd_ou(&["verify", "--run-dir", p(&run)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checkpoint.safetensors") && err.contains("params.npy"),
        "{err}"
    );
}

#[test]
fn missing_tensor_names_the_file_and_tensor() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 40, 3, 1);
    let c = run.join("checkpoints/step_100");
    let (shape, data) = sgd_ou::run::npy::read_f64(&c.join("params.npy")).unwrap();
    for f in ["params.npy", "grads.npy", "hessian.npy"] {
        std::fs::remove_file(c.join(f)).unwrap();
    }
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![(
        "params".to_string(),
        TensorView::new(Dtype::F64, shape, &bytes).unwrap(),
    )];
    std::fs::write(
        c.join("checkpoint.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    let o = sgd_ou(&["verify", "--run-dir", p(&run)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checkpoint.safetensors") && err.contains("grads"),
        "{err}"
    );
}
