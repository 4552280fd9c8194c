//! The implementations measured side by side.

/// Which implementation serves the operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Typed,
    Dynamic,
    Floor,
    Upstream,
    /// This adapter over its deadpool pool (`RoutePolicy::Auto`).
    #[cfg(feature = "deadpool")]
    Pool,
    /// Upstream `rustauth-deadpool-postgres` 0.3.2.
    #[cfg(feature = "deadpool")]
    UpstreamPool,
}

impl Kind {
    #[cfg(not(feature = "deadpool"))]
    pub const ALL: &[Kind] = &[Kind::Typed, Kind::Dynamic, Kind::Floor, Kind::Upstream];
    #[cfg(feature = "deadpool")]
    pub const ALL: &[Kind] = &[
        Kind::Typed,
        Kind::Dynamic,
        Kind::Floor,
        Kind::Upstream,
        Kind::Pool,
        Kind::UpstreamPool,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Typed => "typed",
            Kind::Dynamic => "dynamic",
            Kind::Floor => "floor",
            Kind::Upstream => "upstream",
            #[cfg(feature = "deadpool")]
            Kind::Pool => "pool",
            #[cfg(feature = "deadpool")]
            Kind::UpstreamPool => "upstream-pool",
        }
    }

    /// What this implementation is compared with in the "×up" column.
    pub fn upstream(self) -> Option<Kind> {
        match self {
            Kind::Typed | Kind::Dynamic => Some(Kind::Upstream),
            #[cfg(feature = "deadpool")]
            Kind::Pool => Some(Kind::UpstreamPool),
            _ => None,
        }
    }

    /// A pool of several connections rather than one client.
    pub fn pooled(self) -> bool {
        !matches!(
            self,
            Kind::Typed | Kind::Dynamic | Kind::Floor | Kind::Upstream
        )
    }
}
