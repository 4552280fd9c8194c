//! rustauth-core's shared adapter contract, on both routes, plus schema parity.

use rustauth_core::db::adapter_harness::run_adapter_contract;
use rustauth_tokio_postgres::{RoutePolicy, TableRoute};

use crate::fixtures::{adapter, default_schema};
use crate::support::TestDb;

#[tokio::test]
async fn core_contract_passes_on_the_typed_route() {
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::Auto).await;
    run_adapter_contract(&adapter).await.expect("contract");
    let (typed, _dynamic) = adapter.route_counts();
    assert!(
        typed > 10,
        "the contract's known shapes ran typed ({typed})"
    );
}

#[tokio::test]
async fn core_contract_passes_on_the_dynamic_route() {
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::DynamicOnly).await;
    run_adapter_contract(&adapter).await.expect("contract");
    assert_eq!(adapter.route_counts().0, 0, "nothing ran typed");
}

#[tokio::test]
async fn core_contract_passes_on_every_backend_and_route() {
    for &backend in crate::fixtures::BACKENDS {
        for policy in crate::fixtures::POLICIES {
            let db = TestDb::new().await;
            let adapter = crate::fixtures::backend_adapter(&db, backend, policy).await;
            run_adapter_contract(&adapter)
                .await
                .unwrap_or_else(|e| panic!("{backend:?} {policy:?}: {e}"));
        }
    }
}

#[tokio::test]
async fn migrations_dir_matches_core_planner_exactly() {
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::Auto).await;
    let plan = adapter
        .plan_migrations(&default_schema())
        .await
        .expect("plan");
    assert!(
        plan.statements.is_empty(),
        "unexpected statements: {:?}",
        plan.statements
    );
    assert!(
        plan.warnings.is_empty(),
        "unexpected warnings: {:?}",
        plan.warnings
    );
    assert_eq!(
        adapter
            .compile_migrations(&default_schema())
            .await
            .expect("compile"),
        ";"
    );
}

#[tokio::test]
async fn default_schema_routes_every_table_typed() {
    let db = TestDb::new().await;
    let adapter = adapter(&db, RoutePolicy::Auto).await;
    let report = adapter.route_report();
    for model in ["user", "session", "account", "verification", "rate_limit"] {
        assert_eq!(
            report.route(model),
            Some(&TableRoute::Typed),
            "{model}\n{report}"
        );
    }
}
