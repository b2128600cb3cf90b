//! The boot check: before monitoring starts, replay the baked proof certificate that ACAS Xu's
//! property 2 holds over its operating region (`acas::CERT_LO..CERT_HI`, see
//! `models/acas_region.vnnlib`) with the core's checker, in fixed memory, and show that corrupted
//! copies are refused: one flipped byte (the checksum), and the root cut's point moved and the
//! checksum recomputed (the tree no longer proves the region).

use genbab_core::bound::{Config, Workspace};
use genbab_core::cert::{self, CHECKSUM_LEN, CheckBuffers, HEADER_LEN, Invalid, Summary};

use crate::arena::{ACAS_CROWN, AcasCert};
use crate::measure;
use crate::models::acas;

/// Check `cert` against the baked model and region in `buf`'s memory.
fn check(
    cert: &[u8],
    scalars: &mut [f32],
    flags: &mut [bool],
    checker: &mut [f32],
    words: &mut [u32],
) -> Result<Summary, Invalid> {
    let mut ws = Workspace::new(ACAS_CROWN, scalars, flags).map_err(Invalid::Bound)?;
    let Some(mut cb) = CheckBuffers::new(acas::CERT_PLAN, checker, words) else {
        return Err(Invalid::Bound(genbab_core::bound::BoundError::Shape));
    };
    // The deployed arithmetic the certificate is about (f32, as onnxruntime runs the network).
    cert::check(cert, &acas::graph(), &[acas::cert_spec()], &Config::default(), None, &mut ws, &mut cb)
}

/// Run the boot check; returns (passed, failed) checks.
pub fn boot(buf: &mut AcasCert) -> (u32, u32) {
    let (mut passed, mut failed) = (0, 0);
    let AcasCert { scalars, flags, check: checker, words, copy } = buf;
    let (r, n) = measure::instructions(|| check(&acas::CERTIFICATE, scalars, flags, checker, words));
    match r {
        Ok(s) => {
            passed += 1;
            defmt::info!(
                "CERTIFICATE valid: ACAS Xu property 2 holds on [{=[?]}, {=[?]}]: {=u32} leaves, {=u32} cuts, depth {=u32}, {=u32} bytes, {=u64} instructions",
                &acas::CERT_LO[..],
                &acas::CERT_HI[..],
                s.leaves,
                s.cuts,
                s.depth,
                s.bytes,
                n
            );
        }
        Err(e) => {
            failed += 1;
            defmt::error!("FAIL certificate: invalid ({}), {=u64} instructions", e, n);
        }
    }

    // One flipped byte, in the middle of the tree.
    copy.copy_from_slice(&acas::CERTIFICATE);
    let at = (HEADER_LEN + copy.len() - CHECKSUM_LEN) / 2;
    copy[at] ^= 0x01;
    let (r, n) = measure::instructions(|| check(copy, scalars, flags, checker, words));
    if r == Err(Invalid::Checksum) {
        passed += 1;
        defmt::info!("PASS certificate_flipped_byte_refused: {} ({=u64} instructions)", r, n);
    } else {
        failed += 1;
        defmt::error!("FAIL certificate_flipped_byte_refused: {} ({=u64} instructions)", r, n);
    }

    // The root cut's point moved to just above its box's lower end (then the part above it,
    // covered by the tree built for the upper half, holds the lower half too), resealed.
    copy.copy_from_slice(&acas::CERTIFICATE);
    let ok = copy[HEADER_LEN] != 0;
    if ok {
        let k = u16::from_le_bytes([copy[HEADER_LEN + 1], copy[HEADER_LEN + 2]]) as usize;
        let p = f64::from(acas::CERT_LO[k].next_up());
        copy[HEADER_LEN + 3..HEADER_LEN + 11].copy_from_slice(&p.to_le_bytes());
        let body = copy.len() - CHECKSUM_LEN;
        let sum = cert::sha256(&copy[..body]);
        copy[body..].copy_from_slice(&sum);
    }
    let (r, n) = measure::instructions(|| check(copy, scalars, flags, checker, words));
    if ok && matches!(r, Err(Invalid::Unproved { .. } | Invalid::Point { .. })) {
        passed += 1;
        defmt::info!("PASS certificate_moved_split_point_refused: {} ({=u64} instructions)", r, n);
    } else {
        failed += 1;
        defmt::error!("FAIL certificate_moved_split_point_refused: {} ({=u64} instructions)", r, n);
    }
    (passed, failed)
}
