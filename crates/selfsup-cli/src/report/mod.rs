//! What a user sees and keeps of a run: the progress bar and its log lines, curves.png, the
//! evaluations' plots and the image grids.

pub mod curves;
pub mod grid;
pub mod plots;
pub mod progress;
