//! Keys, ciphertext files and CKKS parameters: bounds before allocation, authenticated
//! headers, secret material on disk, the 128-bit check.
