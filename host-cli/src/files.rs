//! Reading model and property files: plain or gzip-compressed (VNN-COMP ships benchmarks as
//! `.onnx.gz` and `.vnnlib.gz`), recognised by the gzip magic bytes, not by the name.

use std::io::Read;
use std::path::Path;

/// The most a compressed file may expand to (a bound against decompression bombs; the largest
/// VNN-COMP models are a few hundred MB).
pub const MAX_EXPANDED: u64 = 4 << 30;

/// The file's bytes, decompressed if they are gzip data.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let bytes = std::fs::read(path)?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(&bytes[..]).take(MAX_EXPANDED + 1);
    d.read_to_end(&mut out)
        .map_err(|e| std::io::Error::new(e.kind(), format!("not valid gzip data: {e}")))?;
    if out.len() as u64 > MAX_EXPANDED {
        return Err(std::io::Error::other(format!("expands to more than {MAX_EXPANDED} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_read_through_and_plain_files_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, gz, bad) = (dir.path().join("a"), dir.path().join("a.gz"), dir.path().join("b.gz"));
        std::fs::write(&plain, b"(declare-const X_0 Real)").unwrap();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"(declare-const X_0 Real)").unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        std::fs::write(&bad, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        assert_eq!(read(&plain).unwrap(), b"(declare-const X_0 Real)");
        assert_eq!(read(&gz).unwrap(), b"(declare-const X_0 Real)");
        assert!(read(&bad).unwrap_err().to_string().contains("not valid gzip data"));
    }
}
