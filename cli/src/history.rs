//! `snowsync status` and `snowsync runs`: what the tenants' runs left behind.

use snowsync::tenant::config::TenantId;
use snowsync::{Deps, SyncError};

use crate::output;

/// `snowsync status`: every tenant's (or one tenant's) tables and exports.
pub(crate) async fn status(
    deps: &Deps,
    tenant: Option<String>,
    as_json: bool,
) -> Result<(), SyncError> {
    let tenants = match tenant {
        Some(t) => vec![t],
        None => deps.state.list_tenants().await?,
    };
    let mut all = Vec::with_capacity(tenants.len());
    for t in tenants {
        let id = TenantId::parse(&t)?;
        let mut rows = deps.state.statuses(&id).await?;
        rows.sort_by(|a, b| {
            (a.direction.as_str(), &a.object).cmp(&(b.direction.as_str(), &b.object))
        });
        let (periods, limits, deletes) = match deps.state.load_tenant(&t).await {
            Ok(cfg) => {
                let period = |e: &Option<String>| {
                    e.as_deref()
                        .and_then(snowsync::tenant::config::Schedule::period)
                };
                let deletes = cfg
                    .pull
                    .iter()
                    .filter_map(|p| Some((p.table.to_string(), p.deletes?.as_str())))
                    .collect();
                (
                    (period(&cfg.schedule.pull), period(&cfg.schedule.push)),
                    cfg.limits,
                    deletes,
                )
            }
            Err(_) => ((None, None), Default::default(), Vec::new()),
        };
        // Status still shows the runs when the platform database cannot be measured.
        let usage = match deps
            .platform
            .usage(&snowsync::postgres::PgTenant::of(&id), None)
            .await
        {
            Ok(u) => Some(u),
            Err(e) => {
                eprintln!("warning: usage of tenant {id} unknown: {e}");
                None
            }
        };
        all.push(output::TenantStatus {
            tenant: t,
            rows,
            periods,
            usage,
            limits: limits.or(deps.settings.default_limits),
            deletes,
        });
    }
    if as_json {
        output::print_json(&output::status_json(&all));
    } else {
        println!("{}", output::status_table(&all));
        println!("{}", output::usage_table(&all));
    }
    Ok(())
}

/// `snowsync runs`: a tenant's run records, newest first.
pub(crate) async fn runs(
    deps: &Deps,
    tenant: &str,
    object: Option<&str>,
    limit: usize,
    as_json: bool,
) -> Result<(), SyncError> {
    let id = TenantId::parse(tenant)?;
    let mut runs = deps.state.runs(&id).await?;
    if let Some(o) = object {
        let o = o.to_uppercase();
        runs.retain(|r| {
            let name = r.object.to_uppercase();
            name == o || name.rsplit('.').next() == Some(o.as_str())
        });
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    runs.truncate(limit);
    if as_json {
        output::print_json(&serde_json::json!({
            "tenant": id.as_str(),
            "runs": runs.iter().map(output::run_json).collect::<Vec<_>>(),
        }));
    } else if runs.is_empty() {
        println!("no runs recorded for tenant {id}");
    } else {
        println!("{}", output::runs_table(&runs));
    }
    Ok(())
}
