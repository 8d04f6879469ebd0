//! Parent-based sampling: follow the parent's decision, ask a root sampler
//! for new traces.

use super::{AlwaysOff, AlwaysOn, Sampler, SamplingParameters, SamplingResult};

/// Follows the parent's sampling decision, and asks the root sampler only
/// for spans that start a trace. This is OpenTelemetry's default sampler
/// (`ParentBased(AlwaysOn)`), and how every service of a trace agrees.
///
/// Each of the four parent cases has its own delegate, with the spec's
/// defaults: a sampled parent (remote or local) → [`AlwaysOn`]; an unsampled
/// parent → [`AlwaysOff`].
///
/// ```
/// use tracelite::{ParentBased, TraceIdRatioBased};
///
/// // Keep 10% of new traces; always follow callers.
/// let sampler = ParentBased::new(TraceIdRatioBased::new(0.1)?);
/// # let _ = sampler;
/// # Ok::<(), tracelite::ConfigError>(())
/// ```
pub struct ParentBased {
    root: Box<dyn Sampler>,
    remote_parent_sampled: Box<dyn Sampler>,
    remote_parent_not_sampled: Box<dyn Sampler>,
    local_parent_sampled: Box<dyn Sampler>,
    local_parent_not_sampled: Box<dyn Sampler>,
}

impl ParentBased {
    /// Parent-based sampling with `root` for new traces and the default
    /// delegates.
    pub fn new(root: impl Sampler) -> ParentBased {
        ParentBased {
            root: Box::new(root),
            remote_parent_sampled: Box::new(AlwaysOn),
            remote_parent_not_sampled: Box::new(AlwaysOff),
            local_parent_sampled: Box::new(AlwaysOn),
            local_parent_not_sampled: Box::new(AlwaysOff),
        }
    }

    /// The sampler for spans whose parent came sampled from another process.
    pub fn with_remote_parent_sampled(mut self, sampler: impl Sampler) -> Self {
        self.remote_parent_sampled = Box::new(sampler);
        self
    }

    /// The sampler for spans whose parent came unsampled from another process.
    pub fn with_remote_parent_not_sampled(mut self, sampler: impl Sampler) -> Self {
        self.remote_parent_not_sampled = Box::new(sampler);
        self
    }

    /// The sampler for spans whose parent is a sampled span of this process.
    pub fn with_local_parent_sampled(mut self, sampler: impl Sampler) -> Self {
        self.local_parent_sampled = Box::new(sampler);
        self
    }

    /// The sampler for spans whose parent is an unsampled span of this
    /// process.
    pub fn with_local_parent_not_sampled(mut self, sampler: impl Sampler) -> Self {
        self.local_parent_not_sampled = Box::new(sampler);
        self
    }
}

impl Sampler for ParentBased {
    #[inline]
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        let parent = params.parent.span_context();
        let delegate = if !parent.is_valid() {
            &self.root
        } else {
            match (parent.is_remote(), parent.is_sampled()) {
                (true, true) => &self.remote_parent_sampled,
                (true, false) => &self.remote_parent_not_sampled,
                (false, true) => &self.local_parent_sampled,
                (false, false) => &self.local_parent_not_sampled,
            }
        };
        delegate.should_sample(params)
    }

    fn description(&self) -> String {
        format!(
            "ParentBased{{root:{},remoteParentSampled:{},remoteParentNotSampled:{},\
             localParentSampled:{},localParentNotSampled:{}}}",
            self.root.description(),
            self.remote_parent_sampled.description(),
            self.remote_parent_not_sampled.description(),
            self.local_parent_sampled.description(),
            self.local_parent_not_sampled.description(),
        )
    }
}

impl std::fmt::Debug for ParentBased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description())
    }
}
