//! Schedules: which approximation each cell (time step) uses.

use serde::{Deserialize, Serialize};

/// What replaces the activation in one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CellApprox {
    /// The exact activation (plaintext reference only; not evaluable under CKKS).
    Exact,
    /// The problem's fitted polynomial of this degree.
    Degree(usize),
}

/// One approximation per cell, in time order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Schedule {
    cells: Vec<CellApprox>,
}

impl Schedule {
    /// A schedule from its cells, in time order.
    pub fn new(cells: Vec<CellApprox>) -> Self {
        Self { cells }
    }

    /// The same approximation in each of `steps` cells.
    pub fn uniform(steps: usize, cell: CellApprox) -> Self {
        Self::new(vec![cell; steps])
    }

    /// The cells, in time order.
    pub fn cells(&self) -> &[CellApprox] {
        &self.cells
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True for a schedule with no cells.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}
