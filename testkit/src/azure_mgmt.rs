//! A local HTTP responder with the documented responses of Azure's
//! management side, for tests of Azure Update Manager's patch view: no local
//! server implements any of it.
//!
//! - Azure Instance Metadata Service, `GET /metadata/instance/compute`
//!   (requires `Metadata: true`, else 400 as IMDS answers);
//! - the App Service managed identity endpoint (`IDENTITY_ENDPOINT` +
//!   `X-IDENTITY-HEADER`, protocol 2019-08-01), which `azure_identity`'s
//!   `ManagedIdentityCredential` uses when those variables are set;
//! - Resource Manager `GET {vm}` (Virtual Machines - Get), with
//!   `patchSettings` under `osProfile.linuxConfiguration`;
//! - Azure Resource Graph `POST /providers/Microsoft.ResourceGraph/resources`
//!   answering a `patchassessmentresources` query with the latest
//!   assessment's summary row (Update Manager's documented log structure).
//!
//! Either Resource Manager call can answer as for an identity without the
//! permission (403 `AuthorizationFailed`, the documented error body).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The VM the responder describes.
pub const VM: &str = "/subscriptions/8d9e5a3c-0000-4000-8000-000000000001/resourceGroups/backup-rg/providers/Microsoft.Compute/virtualMachines/backup-vm-01";
const SUBSCRIPTION: &str = "8d9e5a3c-0000-4000-8000-000000000001";
/// The secret the identity endpoint expects in `X-IDENTITY-HEADER`.
pub const IDENTITY_HEADER: &str = "documented-identity-header";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.documented.token";

/// What the responder answers; change it between runs.
#[derive(Debug, Clone)]
pub struct MgmtState {
    /// `patchMode`; `None`: `patchSettings` left out.
    pub patch_mode: Option<&'static str>,
    /// The latest assessment: (status, security, critical, other);
    /// `None`: Resource Graph holds none.
    pub assessment: Option<(&'static str, u64, u64, u64)>,
    pub deny_vm: bool,
    pub deny_graph: bool,
}

/// The running responder.
#[derive(Debug, Clone)]
pub struct AzureMgmt {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<MgmtState>>,
    log: Arc<Mutex<Vec<String>>>,
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ms-request-id", "5f0d9d4a-0000-0000-0000-000000000000")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn denied(action: &str, scope: &str) -> Response<Full<Bytes>> {
    reply(
        StatusCode::FORBIDDEN,
        format!(
            "{{\"error\":{{\"code\":\"AuthorizationFailed\",\"message\":\"The client '00000000-0000-0000-0000-000000000002' with object id '00000000-0000-0000-0000-000000000002' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.\"}}}}"
        ),
    )
}

impl AzureMgmt {
    /// Starts the responder on 127.0.0.1.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start(state: MgmtState) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let me = Self {
            addr: listener.local_addr()?,
            state: Arc::new(Mutex::new(state)),
            log: Arc::default(),
        };
        crate::serve_docs(listener, me.clone(), |server: Self, req| async move {
            server.handle(req).await
        });
        Ok(me)
    }

    /// `http://127.0.0.1:PORT`: IMDS and Resource Manager.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where `IDENTITY_ENDPOINT` points.
    pub fn identity_endpoint(&self) -> String {
        format!("http://{}/msi/token", self.addr)
    }

    /// Changes what the responder answers.
    pub fn set(&self, f: impl FnOnce(&mut MgmtState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }

    /// Every request, as `METHOD path` (and the query's text for Resource
    /// Graph).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        use http_body_util::BodyExt;
        let (head, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let path = head.uri.path().to_owned();
        let query = head.uri.query().unwrap_or("").to_owned();
        let header = |k: &str| {
            head.headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let graph_query = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["query"].as_str().map(str::to_owned));
        if let Ok(mut l) = self.log.lock() {
            l.push(format!(
                "{} {path}{}",
                head.method,
                graph_query
                    .as_deref()
                    .map(|q| format!(" {q}"))
                    .unwrap_or_default()
            ));
        }
        let state = self.state.lock().map(|s| s.clone());
        let Ok(state) = state else {
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "{}".into());
        };
        let authorized = header("authorization") == format!("Bearer {TOKEN}");
        match (&head.method, path.as_str()) {
            (&Method::GET, "/metadata/instance/compute") => imds(&header("metadata")),
            (&Method::GET, "/msi/token") => msi_token(&header("x-identity-header"), &query),
            _ if !authorized => reply(
                StatusCode::UNAUTHORIZED,
                "{\"error\":{\"code\":\"AuthenticationFailed\",\"message\":\"Authentication failed. The 'Authorization' header is missing.\"}}".into(),
            ),
            (&Method::GET, p) if p == VM => vm(&state),
            (&Method::POST, "/providers/Microsoft.ResourceGraph/resources") => {
                graph(&state, graph_query.as_deref())
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"not found\"}}".into(),
            ),
        }
    }
}

/// IMDS: the VM this is.
fn imds(metadata_header: &str) -> Response<Full<Bytes>> {
    if metadata_header != "true" {
        return reply(
            StatusCode::BAD_REQUEST,
            "{\"error\":\"Bad request. Required metadata header not specified\"}".into(),
        );
    }
    reply(
        StatusCode::OK,
        format!(
            "{{\"azEnvironment\":\"AzurePublicCloud\",\"location\":\"westeurope\",\"name\":\"backup-vm-01\",\"osType\":\"Linux\",\"resourceGroupName\":\"backup-rg\",\"resourceId\":\"{VM}\",\"subscriptionId\":\"{SUBSCRIPTION}\",\"vmId\":\"02aab8a4-74ef-476e-8182-f6d2ba4166a6\",\"vmSize\":\"Standard_D2s_v5\",\"zone\":\"1\"}}"
        ),
    )
}

/// The managed identity's token endpoint (App Service style).
fn msi_token(identity_header: &str, query: &str) -> Response<Full<Bytes>> {
    if identity_header != IDENTITY_HEADER {
        return reply(
            StatusCode::UNAUTHORIZED,
            "{\"statusCode\":401,\"message\":\"Unauthorized\"}".into(),
        );
    }
    let resource = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("resource="))
        .unwrap_or("")
        .replace("%3A", ":")
        .replace("%2F", "/");
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 3600)
        .unwrap_or(0);
    reply(
        StatusCode::OK,
        format!(
            "{{\"access_token\":\"{TOKEN}\",\"expires_on\":\"{expires}\",\"resource\":\"{resource}\",\"token_type\":\"Bearer\",\"client_id\":\"00000000-0000-0000-0000-000000000002\"}}"
        ),
    )
}

/// Resource Manager: the VM, with its patch settings.
fn vm(state: &MgmtState) -> Response<Full<Bytes>> {
    if state.deny_vm {
        return denied("Microsoft.Compute/virtualMachines/read", VM);
    }
    let settings = state
        .patch_mode
        .map(|m| {
            format!(",\"patchSettings\":{{\"patchMode\":\"{m}\",\"assessmentMode\":\"AutomaticByPlatform\",\"automaticByPlatformSettings\":{{\"rebootSetting\":\"IfRequired\"}}}}")
        })
        .unwrap_or_default();
    reply(
        StatusCode::OK,
        format!(
            "{{\"name\":\"backup-vm-01\",\"id\":\"{VM}\",\"type\":\"Microsoft.Compute/virtualMachines\",\"location\":\"westeurope\",\"properties\":{{\"vmId\":\"02aab8a4-74ef-476e-8182-f6d2ba4166a6\",\"hardwareProfile\":{{\"vmSize\":\"Standard_D2s_v5\"}},\"osProfile\":{{\"computerName\":\"backup-vm-01\",\"adminUsername\":\"azureuser\",\"linuxConfiguration\":{{\"disablePasswordAuthentication\":true,\"provisionVMAgent\":true{settings}}},\"secrets\":[],\"allowExtensionOperations\":true}},\"provisioningState\":\"Succeeded\"}}}}"
        ),
    )
}

/// Resource Graph: the VM's latest patch assessment summary.
fn graph(state: &MgmtState, graph_query: Option<&str>) -> Response<Full<Bytes>> {
    if state.deny_graph {
        return denied(
            "Microsoft.ResourceGraph/resources/read",
            "/providers/Microsoft.ResourceGraph",
        );
    }
    // The query must ask for this VM's assessment summaries.
    let asks = graph_query.is_some_and(|q| {
        q.starts_with("patchassessmentresources")
            && q.contains(&format!("'{VM}/'"))
            && q.contains("patchassessmentresults'")
    });
    let rows = match (asks, state.assessment) {
        (true, Some((status, security, critical, other))) => format!(
            "{{\"id\":\"{VM}/patchAssessmentResults/latest\",\"properties\":{{\"assessmentActivityId\":\"68f8b292-dfc2-4646-9781-33cc88631968\",\"lastModifiedDateTime\":\"2026-12-05T04:12:09.8321451Z\",\"startDateTime\":\"2026-12-05T04:10:02.1203718Z\",\"status\":\"{status}\",\"osType\":\"Linux\",\"rebootPending\":false,\"patchServiceUsed\":\"APT\",\"startedBy\":\"Platform\",\"availablePatchCountByClassification\":{{\"security\":{security},\"critical\":{critical},\"other\":{other}}}{}}}}}",
            if status == "Failed" {
                ",\"errorDetails\":{\"code\":\"1\",\"message\":\"Failed to assess the machine: the package manager is locked\"}"
            } else {
                ""
            }
        ),
        _ => String::new(),
    };
    let n = usize::from(!rows.is_empty());
    reply(
        StatusCode::OK,
        format!(
            "{{\"totalRecords\":{n},\"count\":{n},\"data\":[{rows}],\"facets\":[],\"resultTruncated\":\"false\"}}"
        ),
    )
}
