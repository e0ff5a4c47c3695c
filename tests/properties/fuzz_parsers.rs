//! A proptest-driven byte mutator for each parser of the reader: the npy header, the safetensors
//! header and run.json. Each case takes a valid file, applies a few random mutations (byte flips,
//! insertions, deletions, truncation, splices of interesting bytes) and opens the result: it must
//! never panic or hang, and end in `Ok` or a clean error naming the file.
//!
//! `make test` runs 256 cases per parser; `make fuzz` sets `SGD_OU_FUZZ_CASES=100000`.

use std::path::Path;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("SGD_OU_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b"(".to_vec(),
        b"[".to_vec(),
        b"{".to_vec(),
        b"\"".to_vec(),
        b"'".to_vec(),
        b",".to_vec(),
        b"9999999999999999999".to_vec(),
        b"-1".to_vec(),
        b"\xff\xff\xff\xff".to_vec(),
        b"\x00".to_vec(),
        b"'shape': (18446744073709551615, 2)".to_vec(),
        b"\"dtype\":\"F64\"".to_vec(),
        b"\xef\xbb\xbf".to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation], protect: usize) -> Vec<u8> {
    for m in muts {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if !bytes.is_empty() {
                    let i = i % len;
                    bytes[i] ^= b | 1;
                }
            }
            Mutation::Insert(i, v) => {
                let i = i % (bytes.len() + 1);
                bytes.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                if !bytes.is_empty() {
                    let i = i % len;
                    let e = (i + n).min(bytes.len());
                    bytes.drain(i..e);
                }
            }
            Mutation::Truncate(i) => {
                // Keep most files long enough to reach the parser's later stages.
                let keep = protect + i % (bytes.len().saturating_sub(protect) + 1);
                bytes.truncate(keep.min(bytes.len()));
            }
        }
    }
    bytes
}

fn valid_npy() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    sgd_ou::run::npy::write_f32(&p, &[3, 4], &[0.5; 12]).unwrap();
    std::fs::read(p).unwrap()
}

fn valid_safetensors() -> Vec<u8> {
    let header = r#"{"__metadata__":{"k":"v"},"params":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"grads":{"dtype":"BF16","shape":[3,4],"data_offsets":[16,40]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(&[0x3f; 40]);
    b
}

const RUN_JSON: &str = r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 8, "dataset_size": 32, "loss_reduction": "mean", "gradients": "per_example", "sampling": "without_replacement", "model": {"name": "mlp", "layers": [1, 2, 3]}}"#;

fn check_clean<T>(r: Result<T, sgd_ou::Error>, path: &Path) {
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(
            msg.contains(path.to_str().unwrap()),
            "names the file: {msg}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(msg.len() < 2000, "short: {} bytes", msg.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn npy_header_never_panics(muts in prop::collection::vec(mutation(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npy");
        std::fs::write(&p, apply(valid_npy(), &muts, 10)).unwrap();
        let r = sgd_ou::run::npy::NpyArray::open(&p, true).and_then(|a| {
            if a.shape().len() <= 2 { a.for_each(|_, _, _| {}) } else { Ok(()) }
        });
        check_clean(r, &p);
    }

    #[test]
    fn safetensors_header_never_panics(muts in prop::collection::vec(mutation(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        std::fs::write(&p, apply(valid_safetensors(), &muts, 8)).unwrap();
        let r = sgd_ou::run::safetensors::open_tensors(&p).and_then(|f| {
            for name in f.names() {
                if let Some(t) = f.tensor(&name)? {
                    t.for_each(|_, _, _| {})?;
                }
            }
            Ok(())
        });
        check_clean(r, &p);
    }

    #[test]
    fn run_json_never_panics(muts in prop::collection::vec(mutation(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.json");
        std::fs::write(&p, apply(RUN_JSON.as_bytes().to_vec(), &muts, 0)).unwrap();
        check_clean(sgd_ou::run::Manifest::read(&p), &p);
    }
}
