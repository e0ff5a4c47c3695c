//! `checkpoint.safetensors` input (`sgd_ou::run::safetensors`).
//!
//! Reference values: files written by Python's `safetensors.numpy.save_file` and
//! `safetensors.torch.save_file` (tests/fixtures/safetensors/make_fixtures.py, expected values in
//! expected.json widened to f64 by numpy/torch themselves). Every value must agree bit for bit
//! (tolerance 0: widening f16/bf16/f32 to f64 is exact). Exhaustive checks decode every finite
//! f16 and bf16 bit pattern and compare with the IEEE 754 / bfloat16 definitions written out
//! below, independently of the `half` crate the reader uses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::Value;
use sgd_ou::run::array::ArraySource;
use sgd_ou::run::safetensors::{open_tensors, FloatDtype, SafetensorsTensor};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/safetensors")
}

/// Writes `tensors` (name, dtype, shape, little-endian bytes) with the `safetensors` crate.
fn write_file(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn le_bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn le_bytes_f64(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn le_bytes_u16(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// All (row, col, value) triples, in the order streamed.
fn collect(t: &dyn ArraySource) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    t.for_each(&mut |i, j, v| out.push((i, j, v))).unwrap();
    out
}

fn err_text<T: std::fmt::Debug>(r: sgd_ou::error::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn python_fixtures_match_expected_values_bit_for_bit() {
    let dir = fixture_dir();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let files = expected["files"].as_object().unwrap();
    assert_eq!(files.len(), 2);
    let mut checked = 0;
    for (file_name, spec) in files {
        let path = dir.join(file_name);
        let file = open_tensors(&path).unwrap();
        // __metadata__ as written by save_file(..., metadata=...)
        match spec["metadata"].as_object() {
            Some(meta) => {
                let got = file.user_metadata().expect("metadata written by Python");
                let want: HashMap<String, String> = meta
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                assert_eq!(got, &want);
            }
            None => assert!(file.user_metadata().is_none_or(|m| m.is_empty())),
        }
        for (name, t) in spec["tensors"].as_object().unwrap() {
            let tensor = file.tensor(name).unwrap().expect("tensor present");
            let shape: Vec<usize> = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(
                ArraySource::shape(&tensor),
                &shape[..],
                "{file_name}[{name}]"
            );
            assert_eq!(tensor.dtype_name(), t["dtype"].as_str().unwrap());
            assert_eq!(
                tensor.describe(),
                format!("{}[{name}]", path.display()),
                "describe names the tensor"
            );
            assert_eq!(ArraySource::path(&tensor), path.as_path());
            let want: Vec<f64> = t["values_f64_c_order"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got = collect(&tensor);
            assert_eq!(got.len(), want.len());
            let cols = if shape.len() == 2 { shape[1] } else { 1 };
            for (k, ((i, j, v), w)) in got.iter().zip(&want).enumerate() {
                assert_eq!((*i, *j), (k / cols, k % cols), "C order");
                assert_eq!(
                    v.to_bits(),
                    w.to_bits(),
                    "{file_name}[{name}] element {k}: got {v:e}, want {w:e}"
                );
                checked += 1;
            }
        }
        for (name, dtype) in spec["unsupported"].as_object().unwrap() {
            let msg = err_text(file.tensor(name));
            let dtype = dtype.as_str().unwrap();
            assert!(
                msg.contains(&format!("found {dtype}"))
                    && msg.contains("expected F16, BF16, F32 or F64")
                    && msg.contains(name.as_str()),
                "{msg}"
            );
        }
    }
    // 4 + 12 + 3 values in the numpy file, 4 + 12 + 16 in the torch file.
    assert_eq!(checked, 51);
}

#[test]
fn python_numpy_fixture_lists_tensors_and_reports_missing_ones() {
    let file = open_tensors(&fixture_dir().join("numpy_f16_f32_f64.safetensors")).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["grads", "losses", "params", "step_count"]);
    assert!(file.tensor("hessian").unwrap().is_none());
    let msg = err_text(file.require("hessian"));
    assert!(msg.contains("no tensor named \"hessian\""), "{msg}");
    assert!(msg.contains("\"grads\""), "lists what is there: {msg}");
    assert_eq!(file.require("grads").unwrap().dtype(), FloatDtype::F16);
}

/// IEEE 754 binary16, decoded from its definition.
fn f16_reference(bits: u16) -> Option<f64> {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let man = f64::from(bits & 0x3ff);
    match exp {
        0 => Some(sign * man / 1024.0 * 2f64.powi(-14)),
        31 => None,
        e => Some(sign * (1.0 + man / 1024.0) * 2f64.powi(e - 15)),
    }
}

/// bfloat16 is the upper half of an IEEE 754 binary32.
fn bf16_reference(bits: u16) -> Option<f64> {
    let v = f32::from_bits(u32::from(bits) << 16);
    v.is_finite().then_some(f64::from(v))
}

#[test]
fn every_finite_f16_and_bf16_bit_pattern_decodes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.safetensors");
    let f16_bits: Vec<u16> = (0..=u16::MAX)
        .filter(|b| f16_reference(*b).is_some())
        .collect();
    let bf16_bits: Vec<u16> = (0..=u16::MAX)
        .filter(|b| bf16_reference(*b).is_some())
        .collect();
    assert_eq!(f16_bits.len(), 62 * 1024);
    assert_eq!(bf16_bits.len(), 255 * 256);
    write_file(
        &path,
        &[
            ("h", Dtype::F16, vec![62, 1024], le_bytes_u16(&f16_bits)),
            ("b", Dtype::BF16, vec![255, 256], le_bytes_u16(&bf16_bits)),
        ],
    );
    let file = open_tensors(&path).unwrap();
    for (name, bits, reference, cols) in [
        (
            "h",
            &f16_bits,
            f16_reference as fn(u16) -> Option<f64>,
            1024,
        ),
        (
            "b",
            &bf16_bits,
            bf16_reference as fn(u16) -> Option<f64>,
            256,
        ),
    ] {
        let t = file.require(name).unwrap();
        let got = collect(&t);
        assert_eq!(got.len(), bits.len());
        for (k, (i, j, v)) in got.into_iter().enumerate() {
            assert_eq!((i, j), (k / cols, k % cols));
            let want = reference(bits[k]).unwrap();
            assert_eq!(v.to_bits(), want.to_bits(), "{name} bits {:#06x}", bits[k]);
        }
    }
}

#[test]
fn f32_and_f64_values_are_exact_and_in_c_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let grads: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::MAX,
        -f32::MAX,
        0.1,
        -1.0 / 3.0,
        1e-30,
        7.5,
        -2.0,
    ];
    let params: Vec<f64> = vec![0.1, f64::MIN_POSITIVE, f64::from_bits(1), -f64::MAX];
    write_file(
        &path,
        &[
            ("grads", Dtype::F32, vec![3, 4], le_bytes_f32(&grads)),
            ("params", Dtype::F64, vec![4], le_bytes_f64(&params)),
        ],
    );
    let file = open_tensors(&path).unwrap();
    let g = file.require("grads").unwrap();
    assert_eq!(g.dtype_name(), "float32");
    let got = collect(&g);
    for (k, (i, j, v)) in got.iter().enumerate() {
        assert_eq!((*i, *j), (k / 4, k % 4));
        assert_eq!(v.to_bits(), f64::from(grads[k]).to_bits());
    }
    let p = file.require("params").unwrap();
    assert_eq!(p.dtype_name(), "float64");
    let got = collect(&p);
    for (k, (i, j, v)) in got.iter().enumerate() {
        assert_eq!((*i, *j), (k, 0), "1-D arrays stream with col == 0");
        assert_eq!(v.to_bits(), params[k].to_bits());
    }
    assert_eq!(p.to_vec_f64().unwrap(), params);
    p.expect_ndim(1, "(d,)").unwrap();
    let msg = err_text(g.expect_ndim(1, "(d,)"));
    assert!(
        msg.contains("[3, 4]") && msg.contains("1-D array (d,)"),
        "{msg}"
    );
}

#[test]
fn tensor_handles_outlive_the_file_object_and_work_as_trait_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    write_file(
        &path,
        &[("params", Dtype::F32, vec![2], le_bytes_f32(&[1.5, -2.0]))],
    );
    let handle: Box<dyn ArraySource> = {
        let file = open_tensors(&path).unwrap();
        Box::new(file.require("params").unwrap())
    };
    assert_eq!(collect(handle.as_ref()), vec![(0, 0, 1.5), (1, 0, -2.0)]);
    let clone: SafetensorsTensor = open_tensors(&path).unwrap().require("params").unwrap();
    assert_eq!(clone.clone().to_vec_f64().unwrap(), vec![1.5, -2.0]);
}

#[test]
fn non_finite_values_are_errors_naming_tensor_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    let mut g = vec![0.5f32; 12];
    g[6] = f32::NAN; // row 1, col 2 of a (3, 4) matrix
    let mut h = vec![0x3c00u16; 6]; // f16 1.0
    h[5] = 0x7c00; // f16 +inf at [2, 1] of (3, 2)
    let mut b = vec![0x3f80u16; 4]; // bf16 1.0
    b[0] = 0xff80; // bf16 -inf at [0, 0]
    let mut d = vec![1.0f64; 3];
    d[2] = f64::NAN;
    write_file(
        &path,
        &[
            ("grads", Dtype::F32, vec![3, 4], le_bytes_f32(&g)),
            ("half", Dtype::F16, vec![3, 2], le_bytes_u16(&h)),
            ("brain", Dtype::BF16, vec![4], le_bytes_u16(&b)),
            ("losses", Dtype::F64, vec![3], le_bytes_f64(&d)),
        ],
    );
    let file = open_tensors(&path).unwrap();
    for (name, pos, val) in [
        ("grads", "[1, 2]", "NaN"),
        ("half", "[2, 1]", "inf"),
        ("brain", "[0, 0]", "-inf"),
        ("losses", "[2, 0]", "NaN"),
    ] {
        let t = file.require(name).unwrap();
        let mut seen = 0;
        let msg = err_text(t.for_each(|_, _, _| seen += 1));
        assert!(
            msg.contains(&format!("tensor \"{name}\""))
                && msg.contains(pos)
                && msg.contains(&format!("({val})"))
                && msg.contains("non-finite"),
            "{msg}"
        );
        assert!(msg.contains("nan.safetensors"), "names the file: {msg}");
        // streaming stops at the bad value: the elements before it were visited
        let before = match name {
            "grads" => 6,
            "half" => 5,
            "brain" => 0,
            _ => 2,
        };
        assert_eq!(seen, before, "{name}");
    }
}

#[test]
fn unsupported_dtypes_are_rejected_with_found_and_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ints.safetensors");
    write_file(
        &path,
        &[
            ("i32", Dtype::I32, vec![2], vec![0; 8]),
            ("u8", Dtype::U8, vec![3], vec![1, 2, 3]),
            ("f8", Dtype::F8_E4M3, vec![2], vec![0, 0]),
            ("c64", Dtype::C64, vec![1], vec![0; 8]),
        ],
    );
    let file = open_tensors(&path).unwrap();
    for (name, found) in [
        ("i32", "I32"),
        ("u8", "U8"),
        ("f8", "F8_E4M3"),
        ("c64", "C64"),
    ] {
        let msg = err_text(file.tensor(name));
        assert!(
            msg.contains(&format!("found {found}")) && msg.contains("expected F16, BF16"),
            "{msg}"
        );
    }
}

#[test]
fn damaged_files_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    write_file(
        &good,
        &[("grads", Dtype::F64, vec![2, 2], le_bytes_f64(&[1.0; 4]))],
    );
    let bytes = std::fs::read(&good).unwrap();

    let check = |name: &str, content: &[u8], needle: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let err = open_tensors(&p).expect_err(name);
        assert!(
            matches!(err, sgd_ou::Error::Input { .. }),
            "{name}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(
            msg.contains(name),
            "{name}: the message names the file: {msg}"
        );
    };
    // truncated data section
    check(
        "trunc_data.safetensors",
        &bytes[..bytes.len() - 1],
        "truncated",
    );
    // trailing garbage after the data
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 8]);
    check("trailing.safetensors", &longer, "trailing bytes");
    // truncated inside the header
    check("trunc_header.safetensors", &bytes[..20], "truncated");
    // fewer than 8 bytes
    check("tiny.safetensors", &bytes[..5], "fewer than the 8-byte");
    check("empty.safetensors", &[], "0 bytes");
    // header length prefix claims more than the file holds
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    check("huge_header.safetensors", &huge, "not a valid safetensors");
    // header is not JSON
    let mut garbage = 16u64.to_le_bytes().to_vec();
    garbage.extend_from_slice(b"this is not json");
    check("garbage.safetensors", &garbage, "not a valid safetensors");
    // a torch.save / zip archive and a .npy file named like a checkpoint
    check(
        "zip.safetensors",
        b"PK\x03\x04rest-of-a-zip-archive",
        "torch.save",
    );
    check("npy.safetensors", b"\x93NUMPY\x01\x00rest", ".npy file");
    // missing file
    let missing = dir.path().join("missing.safetensors");
    let msg = open_tensors(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("cannot open") && msg.contains("missing.safetensors"),
        "{msg}"
    );
}

#[test]
fn scalars_stream_as_one_element_and_rank_3_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ranks.safetensors");
    write_file(
        &path,
        &[
            ("scalar", Dtype::F32, vec![], le_bytes_f32(&[2.5])),
            ("cube", Dtype::F32, vec![2, 1, 2], le_bytes_f32(&[1.0; 4])),
            ("empty", Dtype::F32, vec![0, 3], vec![]),
        ],
    );
    let file = open_tensors(&path).unwrap();
    assert_eq!(collect(&file.require("scalar").unwrap()), vec![(0, 0, 2.5)]);
    let msg = err_text(file.require("cube").unwrap().for_each(|_, _, _| {}));
    assert!(
        msg.contains("[2, 1, 2]") && msg.contains("1-D or 2-D"),
        "{msg}"
    );
    let empty = file.require("empty").unwrap();
    assert!(empty.is_empty());
    assert!(collect(&empty).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Failing cases are kept in proptest-regressions/ (committed) and re-run first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/safetensors_input.txt"),
        )),
        ..ProptestConfig::default()
    })]

    /// Any finite f32 / f64 matrix written with the `safetensors` crate streams back unchanged,
    /// element (i, j) at (i, j).
    #[test]
    fn finite_matrices_round_trip(
        rows in 1usize..6,
        cols in 1usize..6,
        seed32 in prop::collection::vec(any::<f32>().prop_filter("finite", |v| v.is_finite()), 36),
        seed64 in prop::collection::vec(any::<f64>().prop_filter("finite", |v| v.is_finite()), 36),
    ) {
        let n = rows * cols;
        let a32 = &seed32[..n];
        let a64 = &seed64[..n];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.safetensors");
        write_file(&path, &[
            ("a", Dtype::F32, vec![rows, cols], le_bytes_f32(a32)),
            ("b", Dtype::F64, vec![rows, cols], le_bytes_f64(a64)),
        ]);
        let file = open_tensors(&path).unwrap();
        for (i, j, v) in collect(&file.require("a").unwrap()) {
            prop_assert_eq!(v.to_bits(), f64::from(a32[i * cols + j]).to_bits());
        }
        let b = collect(&file.require("b").unwrap());
        prop_assert_eq!(b.len(), n);
        for (i, j, v) in b {
            prop_assert_eq!(v.to_bits(), a64[i * cols + j].to_bits());
        }
    }
}
