//! Terminal output: the waterfall, human durations, and the escaping that
//! keeps untrusted span data from controlling the terminal.

mod duration;
mod escape;
mod waterfall;

pub use duration::format_duration;
pub use escape::neutralize;
pub use waterfall::{render_waterfall, WaterfallOptions, WaterfallSpan};
