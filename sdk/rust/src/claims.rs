use crate::json::{self, FromJson, Map, Value};

/// The call's capability as the tool sees it, from
/// [`Call::capability`](crate::Call::capability): who called, and what the
/// call may do. These are also the claims of a JWT the runtime signs, and
/// their JSON is the token's; a member missing from it is left at its
/// default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `iss`: the runtime.
    pub issuer: String,
    /// `sub`: the principal the call runs for.
    pub subject: String,
    /// `aud`: the tool's name and module digest.
    pub audience: Vec<String>,
    /// `exp`: the call's deadline, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// `iat`: when the call was admitted, in seconds since the Unix epoch.
    pub issued_at: i64,
    /// `jti`: the call id.
    pub id: String,
    /// `roles`: the principal's roles.
    pub roles: Vec<String>,
    /// `digest`: `sha256:<hex>` of the tool's module.
    pub digest: String,
    /// `cap`: what the call may use.
    pub cap: Grants,
}

/// The `cap` claim: what the call may use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// The outbound HTTP the call may make.
    pub http: Vec<HttpRule>,
    /// The call's KV storage; None for none.
    pub kv: Option<KvGrant>,
    /// The call's resource limits.
    pub limits: Limits,
}

/// A rule allowing outbound requests to one URL prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRule {
    /// `scheme://host[:port]/path-prefix` (the host may start with `*.`
    /// for subdomains), or `*` for any URL.
    pub url: String,
    /// The methods allowed; empty means GET only, `*` any.
    pub methods: Vec<String>,
    /// Whether loopback and private addresses are allowed.
    pub allow_private: bool,
    /// The secret names usable as `{{secret:NAME}}` header values.
    pub secrets: Vec<String>,
}

/// The call's KV storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvGrant {
    /// The namespace, chosen by the host: one per principal per tool.
    pub namespace: String,
    /// Whether the call may read.
    pub read: bool,
    /// Whether the call may write.
    pub write: bool,
    /// The most bytes of keys plus values the namespace may hold; 0 for no
    /// limit.
    pub quota: i64,
}

/// The call's resource limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The call's deadline, from its start, in milliseconds.
    pub timeout_ms: i64,
    /// The most memory the instance may have.
    pub memory_bytes: i64,
    /// The most bytes the call may send: log and progress messages, output
    /// chunks and the result.
    pub output_bytes: i64,
    /// The most `host.*` events.
    pub events: i64,
    /// The most host calls.
    pub host_calls: i64,
}

/// Takes an optional member, or its type's default.
fn opt<T: FromJson + Default>(m: &mut Map, key: &str) -> Result<T, json::Error> {
    Ok(m.take::<Option<T>>(key)?.unwrap_or_default())
}

impl FromJson for Claims {
    fn from_json(value: Value) -> Result<Claims, json::Error> {
        let mut m = Map::from_json(value)?;
        // aud may be one string, as JWTs allow.
        let audience = match m.remove("aud") {
            Some(Value::String(s)) => vec![s],
            Some(v) => Option::<Vec<String>>::from_json(v).map_err(|e| e.at("aud"))?.unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Claims {
            issuer: opt(&mut m, "iss")?,
            subject: opt(&mut m, "sub")?,
            audience,
            expires_at: opt(&mut m, "exp")?,
            issued_at: opt(&mut m, "iat")?,
            id: opt(&mut m, "jti")?,
            roles: opt(&mut m, "roles")?,
            digest: opt(&mut m, "digest")?,
            cap: opt(&mut m, "cap")?,
        })
    }
}

impl FromJson for Grants {
    fn from_json(value: Value) -> Result<Grants, json::Error> {
        let mut m = Map::from_json(value)?;
        Ok(Grants { http: opt(&mut m, "http")?, kv: m.take("kv")?, limits: opt(&mut m, "limits")? })
    }
}

impl FromJson for HttpRule {
    fn from_json(value: Value) -> Result<HttpRule, json::Error> {
        let mut m = Map::from_json(value)?;
        Ok(HttpRule {
            url: opt(&mut m, "url")?,
            methods: opt(&mut m, "methods")?,
            allow_private: opt(&mut m, "allowPrivate")?,
            secrets: opt(&mut m, "secrets")?,
        })
    }
}

impl FromJson for KvGrant {
    fn from_json(value: Value) -> Result<KvGrant, json::Error> {
        let mut m = Map::from_json(value)?;
        Ok(KvGrant {
            namespace: opt(&mut m, "namespace")?,
            read: opt(&mut m, "read")?,
            write: opt(&mut m, "write")?,
            quota: opt(&mut m, "quota")?,
        })
    }
}

impl FromJson for Limits {
    fn from_json(value: Value) -> Result<Limits, json::Error> {
        let mut m = Map::from_json(value)?;
        Ok(Limits {
            timeout_ms: opt(&mut m, "timeoutMs")?,
            memory_bytes: opt(&mut m, "memoryBytes")?,
            output_bytes: opt(&mut m, "outputBytes")?,
            events: opt(&mut m, "events")?,
            host_calls: opt(&mut m, "hostCalls")?,
        })
    }
}

/// The claims' JSON, as the runtime writes them.
impl From<&Claims> for Value {
    fn from(c: &Claims) -> Value {
        let mut m = Map::new();
        m.insert("iss", c.issuer.as_str());
        m.insert("sub", c.subject.as_str());
        m.insert("aud", c.audience.as_slice());
        m.insert("exp", c.expires_at);
        m.insert("iat", c.issued_at);
        m.insert("jti", c.id.as_str());
        if !c.roles.is_empty() {
            m.insert("roles", c.roles.as_slice());
        }
        m.insert("digest", c.digest.as_str());
        m.insert("cap", &c.cap);
        Value::Object(m)
    }
}

impl From<&Grants> for Value {
    fn from(g: &Grants) -> Value {
        let mut m = Map::new();
        m.insert("http", g.http.iter().map(Value::from).collect::<Value>());
        if let Some(kv) = &g.kv {
            m.insert("kv", kv);
        }
        m.insert("limits", &g.limits);
        Value::Object(m)
    }
}

impl From<&HttpRule> for Value {
    fn from(r: &HttpRule) -> Value {
        let mut m = Map::new();
        m.insert("url", r.url.as_str());
        if !r.methods.is_empty() {
            m.insert("methods", r.methods.as_slice());
        }
        if r.allow_private {
            m.insert("allowPrivate", true);
        }
        if !r.secrets.is_empty() {
            m.insert("secrets", r.secrets.as_slice());
        }
        Value::Object(m)
    }
}

impl From<&KvGrant> for Value {
    fn from(k: &KvGrant) -> Value {
        let mut m = Map::new();
        m.insert("namespace", k.namespace.as_str());
        m.insert("read", k.read);
        m.insert("write", k.write);
        if k.quota != 0 {
            m.insert("quota", k.quota);
        }
        Value::Object(m)
    }
}

impl From<&Limits> for Value {
    fn from(l: &Limits) -> Value {
        crate::object! {
            "timeoutMs" => l.timeout_ms,
            "memoryBytes" => l.memory_bytes,
            "outputBytes" => l.output_bytes,
            "events" => l.events,
            "hostCalls" => l.host_calls,
        }
    }
}
