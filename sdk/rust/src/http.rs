use crate::json::{self, FromJson, Map, Value};
use std::collections::BTreeMap;

/// An outbound request, performed by the host with [`Call::http`](crate::Call::http).
///
/// Its JSON is the one the `http` host function takes:
/// `{"method", "url", "headers", "body"}`, where only `url` is required.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// The HTTP method; empty means GET.
    pub method: String,
    /// The absolute http or https URL. The host checks it, and every
    /// redirect, against the capability's http rules.
    pub url: String,
    /// Header names and values, sent as given. A value
    /// `{{secret:NAME}}` is filled in by the host for URLs whose rule lists
    /// `NAME`; the tool never sees the secret.
    pub headers: BTreeMap<String, String>,
    /// The request body, as text.
    pub body: String,
}

impl HttpRequest {
    /// Returns a request with the method and URL.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> HttpRequest {
        HttpRequest { method: method.into(), url: url.into(), ..HttpRequest::default() }
    }

    /// Returns a GET request for the URL.
    pub fn get(url: impl Into<String>) -> HttpRequest {
        HttpRequest::new("GET", url)
    }

    /// Returns the request with a header set.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> HttpRequest {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Returns the request with the body set.
    pub fn body(mut self, body: impl Into<String>) -> HttpRequest {
        self.body = body.into();
        self
    }
}

/// The request's JSON, without the members that are empty.
impl From<&HttpRequest> for Value {
    fn from(r: &HttpRequest) -> Value {
        let mut m = Map::with_capacity(4);
        if !r.method.is_empty() {
            m.insert("method", r.method.as_str());
        }
        m.insert("url", r.url.as_str());
        if !r.headers.is_empty() {
            m.insert("headers", r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Map>());
        }
        if !r.body.is_empty() {
            m.insert("body", r.body.as_str());
        }
        Value::Object(m)
    }
}

/// The answer to an [`HttpRequest`], whatever its status.
///
/// Its JSON is the one the `http` host function stages:
/// `{"status", "headers", "body", "url"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, with canonical names (`Content-Type`), the first value
    /// of each.
    pub headers: BTreeMap<String, String>,
    /// The body as text; bytes that are not UTF-8 are U+FFFD.
    pub body: String,
    /// The final URL, after redirects.
    pub url: String,
}

impl HttpResponse {
    /// Returns the value of the header with this exact (canonical) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

impl FromJson for HttpResponse {
    fn from_json(value: Value) -> Result<HttpResponse, json::Error> {
        let mut m = Map::from_json(value)?;
        Ok(HttpResponse {
            status: m.take("status")?,
            headers: m.take::<Option<_>>("headers")?.unwrap_or_default(),
            body: m.take("body")?,
            url: m.take("url")?,
        })
    }
}

impl From<&HttpResponse> for Value {
    fn from(r: &HttpResponse) -> Value {
        crate::object! {
            "status" => r.status,
            "headers" => r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Map>(),
            "body" => r.body.as_str(),
            "url" => r.url.as_str(),
        }
    }
}
