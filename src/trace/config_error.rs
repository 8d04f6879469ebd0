//! Configuration errors: a setting that cannot be used, and what to do.

use std::fmt;

/// A configuration value that TraceLite cannot use, from code or from the
/// environment. The message names the setting and what it accepts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `OTEL_TRACES_SAMPLER` names no known sampler.
    UnknownSampler(String),
    /// A sampling ratio outside `0.0..=1.0` (or not a number).
    InvalidRatio(f64),
    /// A rate that is negative or not finite.
    InvalidRate(f64),
    /// `OTEL_TRACES_SAMPLER_ARG` is not a number.
    InvalidSamplerArgument {
        /// The sampler it was given for.
        sampler: String,
        /// The value given.
        argument: String,
    },
    /// Any other setting that cannot be used.
    Invalid {
        /// The setting.
        setting: String,
        /// The value given.
        value: String,
        /// Why, and what is accepted.
        reason: String,
    },
}

impl ConfigError {
    /// A setting that cannot be used: which, the value, and why.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn new(
        setting: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            setting: setting.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownSampler(name) => write!(
                f,
                "OTEL_TRACES_SAMPLER={name:?} is not a known sampler; use one of always_on, \
                 always_off, traceidratio, parentbased_always_on, parentbased_always_off, \
                 parentbased_traceidratio, ratelimiting, parentbased_ratelimiting"
            ),
            ConfigError::InvalidRatio(r) => write!(
                f,
                "sampling ratio {r} is invalid: give a number from 0.0 (keep none) to 1.0 (keep all)"
            ),
            ConfigError::InvalidRate(r) => write!(
                f,
                "sampling rate {r} is invalid: give traces per second as a finite number >= 0"
            ),
            ConfigError::InvalidSamplerArgument { sampler, argument } => write!(
                f,
                "OTEL_TRACES_SAMPLER_ARG={argument:?} is not a number, as {sampler} needs \
                 (a ratio like 0.25, or traces per second like 100)"
            ),
            ConfigError::Invalid {
                setting,
                value,
                reason,
            } => write!(f, "{setting} {value:?} cannot be used: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}
