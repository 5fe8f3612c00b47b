//! Errors found while building a [`crate::Correlator`] from correlation rules.

use thiserror::Error;

/// A correlation rule that cannot be evaluated. Each error names the rule's file and line
/// (`at`) and title, so the author can find it; the other correlations keep working
/// (see [`crate::Correlator::build`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CorrelateError {
    /// A `rules` entry matches no known rule or correlation by id or name.
    #[error("{at}: correlation '{title}' references '{reference}', which is the id or name of no known rule or correlation")]
    UnknownReference {
        /// `file:line` of the correlation.
        at: String,
        /// The correlation's title.
        title: String,
        /// The reference as written.
        reference: String,
    },
    /// A `rules` or `aliases` entry matches several rules or correlations.
    #[error("{at}: correlation '{title}' references '{reference}', which is the id or name of {count} different rules")]
    AmbiguousReference {
        /// `file:line` of the correlation.
        at: String,
        /// The correlation's title.
        title: String,
        /// The reference as written.
        reference: String,
        /// How many rules answer to it.
        count: usize,
    },
    /// An alias maps a field for a rule the correlation does not reference.
    #[error("{at}: correlation '{title}': alias '{alias}' maps a field for '{reference}', which is not in the correlation's rules")]
    AliasForUnreferencedRule {
        /// `file:line` of the correlation.
        at: String,
        /// The correlation's title.
        title: String,
        /// The alias name.
        alias: String,
        /// The rule id or name used in the alias.
        reference: String,
    },
    /// The correlation references itself, directly or through other correlations.
    #[error("{at}: correlation '{title}' is part of a reference cycle: {cycle}")]
    Cycle {
        /// `file:line` of the correlation.
        at: String,
        /// The correlation's title.
        title: String,
        /// The titles along the cycle, joined with ` -> `.
        cycle: String,
    },
    /// The correlation references another correlation that is itself invalid.
    #[error("{at}: correlation '{title}' references correlation '{reference}', which is invalid")]
    InvalidDependency {
        /// `file:line` of the correlation.
        at: String,
        /// The correlation's title.
        title: String,
        /// The reference as written.
        reference: String,
    },
}
