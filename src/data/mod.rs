//! Data: MNIST download and verification, the IDX reader, and the train/validation/test
//! splits as sequences (one image row per time step).

use ndarray::Array3;

/// One labelled split of images read as sequences.
#[derive(Clone, Debug)]
pub struct Split {
    /// "train", "val" or "test".
    pub name: String,
    /// Pixels / 255, shaped [images, steps, input width].
    pub images: Array3<f32>,
    /// Class of each image.
    pub labels: Vec<u8>,
}

/// The three splits of a problem.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Split,
    pub val: Split,
    pub test: Split,
}
