//! genbab-cli library: the ONNX loader, the VNNLIB reader and the verification driver used by
//! the `genbab` binary (and by fuzz targets and integration tests).

pub mod bake;
pub mod certificate;
pub mod cex;
pub mod config;
pub mod engine;
pub mod files;
pub mod frames;
pub mod onnx;
pub mod parallel;
pub mod report;
pub mod results;
pub mod values;
pub mod vnnlib;
