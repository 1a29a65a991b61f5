//! Schedules: which approximation each cell (time step) uses.
