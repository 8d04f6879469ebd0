//! The sampler named by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.

use super::{AlwaysOff, AlwaysOn, ParentBased, RateLimiting, Sampler, TraceIdRatioBased};
use crate::trace::ConfigError;

/// Traces per second for `ratelimiting` when no argument is given.
const DEFAULT_RATE: f64 = 100.0;

/// The sampler configured by the standard environment variables, or `None`
/// when `OTEL_TRACES_SAMPLER` is unset.
///
/// | `OTEL_TRACES_SAMPLER` | sampler | `OTEL_TRACES_SAMPLER_ARG` |
/// | --- | --- | --- |
/// | `always_on` | [`AlwaysOn`] | |
/// | `always_off` | [`AlwaysOff`] | |
/// | `traceidratio` | [`TraceIdRatioBased`] | ratio, default 1.0 |
/// | `parentbased_always_on` | [`ParentBased`] over `AlwaysOn` (the default) | |
/// | `parentbased_always_off` | [`ParentBased`] over `AlwaysOff` | |
/// | `parentbased_traceidratio` | [`ParentBased`] over `TraceIdRatioBased` | ratio, default 1.0 |
/// | `ratelimiting` | [`RateLimiting`] | traces per second, default 100 |
/// | `parentbased_ratelimiting` | [`ParentBased`] over `RateLimiting` | traces per second, default 100 |
///
/// An unknown name or an argument that is not a valid number is an error
/// that says what is accepted.
pub fn sampler_from_env() -> Result<Option<Box<dyn Sampler>>, ConfigError> {
    sampler_from_lookup(|name| std::env::var(name).ok())
}

pub(crate) fn sampler_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<Box<dyn Sampler>>, ConfigError> {
    let Some(name) = get("OTEL_TRACES_SAMPLER") else {
        return Ok(None);
    };
    let name = name.trim().to_ascii_lowercase();
    let arg = get("OTEL_TRACES_SAMPLER_ARG").filter(|a| !a.trim().is_empty());
    let number = |default: f64| -> Result<f64, ConfigError> {
        match &arg {
            None => Ok(default),
            Some(a) => a
                .trim()
                .parse::<f64>()
                .map_err(|_| ConfigError::InvalidSamplerArgument {
                    sampler: name.clone(),
                    argument: a.clone(),
                }),
        }
    };
    let sampler: Box<dyn Sampler> = match name.as_str() {
        "always_on" => Box::new(AlwaysOn),
        "always_off" => Box::new(AlwaysOff),
        "traceidratio" => Box::new(TraceIdRatioBased::new(number(1.0)?)?),
        "parentbased_always_on" => Box::new(ParentBased::new(AlwaysOn)),
        "parentbased_always_off" => Box::new(ParentBased::new(AlwaysOff)),
        "parentbased_traceidratio" => {
            Box::new(ParentBased::new(TraceIdRatioBased::new(number(1.0)?)?))
        }
        "ratelimiting" => Box::new(RateLimiting::new(number(DEFAULT_RATE)?)?),
        "parentbased_ratelimiting" => {
            Box::new(ParentBased::new(RateLimiting::new(number(DEFAULT_RATE)?)?))
        }
        _ => return Err(ConfigError::UnknownSampler(name)),
    };
    Ok(Some(sampler))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(sampler: &str, arg: Option<&str>) -> Result<Option<String>, ConfigError> {
        let (s, a) = (sampler.to_string(), arg.map(str::to_string));
        sampler_from_lookup(|k| match k {
            "OTEL_TRACES_SAMPLER" => Some(s.clone()),
            "OTEL_TRACES_SAMPLER_ARG" => a.clone(),
            _ => None,
        })
        .map(|o| o.map(|s| s.description()))
    }

    #[test]
    fn every_name_maps_to_its_sampler() {
        assert_eq!(from("always_on", None).unwrap().unwrap(), "AlwaysOnSampler");
        assert_eq!(
            from("ALWAYS_OFF", None).unwrap().unwrap(),
            "AlwaysOffSampler"
        );
        assert_eq!(
            from("traceidratio", Some("0.25")).unwrap().unwrap(),
            "TraceIdRatioBased{0.25}"
        );
        assert_eq!(
            from("traceidratio", None).unwrap().unwrap(),
            "TraceIdRatioBased{1}"
        );
        assert!(from("parentbased_always_on", None)
            .unwrap()
            .unwrap()
            .starts_with("ParentBased{root:AlwaysOnSampler"));
        assert!(from("parentbased_always_off", None)
            .unwrap()
            .unwrap()
            .starts_with("ParentBased{root:AlwaysOffSampler"));
        assert!(from("parentbased_traceidratio", Some(" 0.5 "))
            .unwrap()
            .unwrap()
            .starts_with("ParentBased{root:TraceIdRatioBased{0.5}"));
        assert_eq!(
            from("ratelimiting", Some("50")).unwrap().unwrap(),
            "RateLimitingSampler{50}"
        );
        assert!(from("parentbased_ratelimiting", None)
            .unwrap()
            .unwrap()
            .contains("RateLimitingSampler{100}"));
    }

    #[test]
    fn unset_is_none_and_bad_values_are_clear_errors() {
        assert!(sampler_from_lookup(|_| None).unwrap().is_none());
        let err = from("jaeger_remote", None).unwrap_err();
        assert_eq!(err, ConfigError::UnknownSampler("jaeger_remote".into()));
        assert!(err.to_string().contains("parentbased_traceidratio"));
        assert!(matches!(
            from("traceidratio", Some("half")),
            Err(ConfigError::InvalidSamplerArgument { .. })
        ));
        assert_eq!(
            from("traceidratio", Some("2")).unwrap_err(),
            ConfigError::InvalidRatio(2.0)
        );
        assert_eq!(
            from("ratelimiting", Some("-5")).unwrap_err(),
            ConfigError::InvalidRate(-5.0)
        );
    }
}
