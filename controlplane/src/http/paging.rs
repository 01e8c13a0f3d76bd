//! `?limit=&cursor=` on list endpoints. The body stays a JSON array; the cursor of the next
//! page comes in the `X-Next-Cursor` header (absent on the last page).
use axum::{
    http::HeaderValue,
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult};
use crate::store::{ListQuery, TypedPage};

pub const NEXT_CURSOR: &str = "x-next-cursor";
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (1 to 1000, default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `X-Next-Cursor` of the previous page.
    #[serde(default)]
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

impl PageParams {
    /// The store query for this page.
    pub fn query(&self) -> ApiResult<ListQuery> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = self
            .cursor
            .as_deref()
            .map(|c| {
                // Read leniently (a cursor only says where to start; any base64url text is one):
                // a cursor of the documented alphabet is never refused.
                let lenient = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::URL_SAFE,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_allow_trailing_bits(true)
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                let mut text = c.to_string();
                // A lone last character holds no whole byte: it is dropped.
                if text.len() % 4 == 1 {
                    text.pop();
                }
                lenient
                    .decode(text)
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| ApiError::invalid("cursor", "not a cursor from this API"))
            })
            .transpose()?;
        Ok(ListQuery::default().limit(limit as usize).after(after))
    }
}

/// A page of items with the cursor of the next one.
pub struct Paged<T> {
    pub items: Vec<T>,
    /// The store's cursor (an id); encoded on the way out.
    pub next: Option<String>,
}

impl<T> From<TypedPage<T>> for Paged<T> {
    fn from(p: TypedPage<T>) -> Self {
        Self {
            items: p.items,
            next: p.next,
        }
    }
}

impl<T> Paged<T> {
    /// The same page with each item shown another way.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let mut resp = Json(self.items).into_response();
        if let Some(next) = self.next {
            if let Ok(v) = HeaderValue::from_str(&B64.encode(next)) {
                resp.headers_mut().insert(NEXT_CURSOR, v);
            }
        }
        resp
    }
}
