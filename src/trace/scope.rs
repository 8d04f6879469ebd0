//! The instrumentation scope: which library or module made a span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::KeyValue;

/// Names the code that created a span: a library, crate or module, with an
/// optional version and schema URL. Cheap to clone.
///
/// ```
/// use tracelite::InstrumentationScope;
///
/// let scope = InstrumentationScope::builder("my-crate").with_version("1.2.0").build();
/// assert_eq!(scope.name(), "my-crate");
/// assert_eq!(scope.version(), Some("1.2.0"));
/// ```
#[derive(Clone, PartialEq)]
pub struct InstrumentationScope(Arc<ScopeInner>);

#[derive(PartialEq)]
struct ScopeInner {
    name: Cow<'static, str>,
    version: Option<Cow<'static, str>>,
    schema_url: Option<Cow<'static, str>>,
    attributes: Vec<KeyValue>,
}

impl InstrumentationScope {
    /// A scope with a name only.
    pub fn new(name: impl Into<Cow<'static, str>>) -> InstrumentationScope {
        Self::builder(name).build()
    }

    /// Starts a scope with a version, schema URL or attributes.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> ScopeBuilder {
        ScopeBuilder(ScopeInner {
            name: name.into(),
            version: None,
            schema_url: None,
            attributes: Vec::new(),
        })
    }

    /// The scope's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The scope's version.
    pub fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }

    /// The schema URL of the telemetry it emits.
    pub fn schema_url(&self) -> Option<&str> {
        self.0.schema_url.as_deref()
    }

    /// The scope's attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.0.attributes
    }
}

impl fmt::Debug for InstrumentationScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentationScope")
            .field("name", &self.0.name)
            .field("version", &self.0.version)
            .finish_non_exhaustive()
    }
}

/// Builds an [`InstrumentationScope`].
pub struct ScopeBuilder(ScopeInner);

impl ScopeBuilder {
    /// Sets the version.
    pub fn with_version(mut self, version: impl Into<Cow<'static, str>>) -> Self {
        self.0.version = Some(version.into());
        self
    }

    /// Sets the schema URL.
    pub fn with_schema_url(mut self, url: impl Into<Cow<'static, str>>) -> Self {
        self.0.schema_url = Some(url.into());
        self
    }

    /// Sets the scope's attributes.
    pub fn with_attributes<I>(mut self, attributes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        self.0.attributes = attributes.into_iter().map(Into::into).collect();
        self
    }

    /// The scope.
    pub fn build(self) -> InstrumentationScope {
        InstrumentationScope(Arc::new(self.0))
    }
}
