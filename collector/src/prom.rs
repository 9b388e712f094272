//! How every metrics file declares its metrics: definitions with constant names and labels
//! cannot fail, so they are taken as they come (`must`), in one place for all of them.

/// A metric definition that cannot fail (constant names and labels).
pub(crate) fn must<T>(r: prometheus::Result<T>) -> T {
    r.expect("metric definitions are valid")
}
