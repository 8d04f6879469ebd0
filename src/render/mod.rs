//! Terminal output: the waterfall, human durations, and the escaping that
//! keeps untrusted span data from controlling the terminal.

mod duration;
mod escape;
mod tables;
mod waterfall;

pub use duration::format_duration;
pub use escape::neutralize;
pub use tables::{render_red_table, render_service_map};
pub use waterfall::{
    render_waterfall, render_waterfall_with_path, WaterfallOptions, WaterfallSpan,
};
