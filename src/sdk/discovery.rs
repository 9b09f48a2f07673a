//! [`Discovery`] over Lambda: the versions and aliases of a function, and the functions of the
//! home account and region, every page within the control-plane budget.

use std::future::Future;

use super::clients::LazyAws;
use super::errors::classify;
use crate::guard::api::{ApiError, Discovery};
use crate::guard::discover::LIST_PAGE;

/// Every page's names: `page(marker)` returns one page's names and the next page's marker.
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<String>, ApiError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<String>, Option<String>), ApiError>>,
{
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let (names, next) = page(marker).await?;
        out.extend(names);
        marker = next;
        if marker.is_none() {
            return Ok(out);
        }
    }
}

impl Discovery for LazyAws {
    async fn list_aliases(
        &self,
        function: &str,
        function_version: Option<&str>,
    ) -> Result<Vec<String>, ApiError> {
        all_pages(|marker| async move {
            let page = self
                .lambda_call(function)
                .await?
                .list_aliases()
                .function_name(function)
                .set_function_version(function_version.map(str::to_owned))
                .max_items(LIST_PAGE as i32)
                .set_marker(marker)
                .send()
                .await
                .map_err(classify)?;
            let names = page.aliases().iter().filter_map(|a| a.name());
            Ok((
                names.map(str::to_owned).collect(),
                page.next_marker().map(str::to_owned),
            ))
        })
        .await
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<String>, ApiError> {
        all_pages(|marker| async move {
            let page = self
                .lambda_call(function)
                .await?
                .list_versions_by_function()
                .function_name(function)
                .max_items(LIST_PAGE as i32)
                .set_marker(marker)
                .send()
                .await
                .map_err(classify)?;
            let versions = page.versions().iter().filter_map(|v| v.version());
            Ok((
                versions
                    .filter(|v| *v != "$LATEST")
                    .map(str::to_owned)
                    .collect(),
                page.next_marker().map(str::to_owned),
            ))
        })
        .await
    }

    async fn list_functions(&self) -> Result<Vec<String>, ApiError> {
        all_pages(|marker| async move {
            // A name: the home account and region's budget.
            self.budgets.take("").await;
            let page = self
                .clients()
                .await
                .lambda
                .list_functions()
                .set_marker(marker)
                .send()
                .await
                .map_err(classify)?;
            let names = page.functions().iter().filter_map(|f| f.function_name());
            Ok((
                names.map(str::to_owned).collect(),
                page.next_marker().map(str::to_owned),
            ))
        })
        .await
    }
}
