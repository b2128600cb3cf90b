//! Any bytes: the certificate checker (`genbab check`, `genbab_core::cert::check`) returns valid
//! or a reason, never panics. To get past the checksum and the fingerprints, the first byte
//! chooses how much of a real header (ACAS Xu 2_1, property 4 of the test fixtures) to keep and
//! whether to reseal the rest; a certificate it accepts must be a binary tree of its size.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use genbab_cli::certificate;
use genbab_cli::engine::Precision;
use genbab_cli::onnx::{self, Model};
use genbab_cli::vnnlib::{self, Property};
use genbab_core::cert::{self, CHECKSUM_LEN, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/acasxu");

struct Fixture {
    model: Model,
    prop: Property,
    onnx: [u8; 32],
    /// The headers of an f64 and an f32 certificate.
    headers: [Vec<u8>; 2],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let bytes = std::fs::read(format!("{DIR}/onnx/ACASXU_run2a_2_1_batch_2000.onnx")).unwrap();
        let model = onnx::load_bytes(&bytes, "acas", onnx::Limits::default()).unwrap();
        let prop = vnnlib::read(format!("{DIR}/vnnlib/prop_4.vnnlib").as_ref()).unwrap();
        let onnx = cert::sha256(&bytes);
        let far = Instant::now() + Duration::from_secs(600);
        let header = |p| certificate::write(&model, &prop, &onnx, p, far).unwrap().0[..HEADER_LEN].to_vec();
        let headers = [header(Precision::F64), header(Precision::F32)];
        Fixture { model, prop, onnx, headers }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let f = fixture();
    let mut c = Vec::new();
    if mode & 1 == 1 {
        c.extend_from_slice(&f.headers[usize::from(mode >> 1 & 1)]);
    }
    c.extend_from_slice(rest);
    if mode & 4 == 4 && c.len() >= CHECKSUM_LEN {
        c.extend_from_slice(&cert::sha256(&c));
    }
    match certificate::check(&f.model, &f.prop, &f.onnx, &c) {
        Ok(Ok(s)) => {
            assert_eq!(s.leaves, s.cuts + s.boxes, "{s:?}");
            assert_eq!(s.bytes as usize, c.len());
        }
        Ok(Err(e)) => assert!(!certificate::describe(&e).contains('\n')),
        Err(e) => panic!("setup failed: {e}"),
    }
});
