//! The service as operators deploy it on Kubernetes: the StatefulSet, its
//! ConfigMap, the Secret examples and the kustomize base (each manifest is
//! also validated strictly in `packages`).

use crate::packages::{repo, run};
use std::process::Command;

/// The YAML documents of a file under packaging/kubernetes, as JSON.
fn kube_docs(file: &str) -> Vec<serde_json::Value> {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON").expect("RESTOREPROOF_TEST_PYTHON");
    let json = run(Command::new(python)
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))")
        .arg(repo().join("packaging/kubernetes").join(file)));
    serde_json::from_str(&json).expect("yaml as json")
}

/// The service as operators deploy it: one StatefulSet replica (one writer
/// of the ledger) on its own volume, hardened, probed on /healthz at the
/// port its config serves metrics on, its config a ConfigMap that
/// validates, its secrets from the Secret examples, the kustomize base
/// naming files that exist.
#[test]
fn the_kubernetes_service_is_one_hardened_probed_writer_of_its_ledger() {
    let service = kube_docs("service.yaml");
    let set = service
        .iter()
        .find(|d| d["kind"] == "StatefulSet")
        .expect("a StatefulSet");
    assert_eq!(set["spec"]["replicas"], 1);
    assert!(set["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"][0] == "ReadWriteOnce");
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["args"][0], "run");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    let port = c["ports"][0]["containerPort"].as_u64().expect("a port");
    let config = kube_docs("config.yaml");
    let map = config
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    let mounted = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .expect("the config volume");
    assert_eq!(map["metadata"]["name"], mounted);
    let toml = map["data"]["config.toml"].as_str().expect("config.toml");
    assert!(
        toml.contains(&format!("metrics_listen = \"0.0.0.0:{port}\"")),
        "{toml}"
    );
    // The config validates, with the token its sink names in the environment.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.toml"), toml).expect("write");
    run(Command::new(env!("CARGO_BIN_EXE_restoreproof"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("validate")
        .env("RESTOREPROOF_SIEM_TOKEN", "t"));
    // Each secret the pod reads is one of the examples.
    let secrets = kube_docs("secrets.example.yaml");
    for env in c["env"].as_array().expect("env") {
        if let Some(r) = env["valueFrom"]["secretKeyRef"].as_object() {
            assert!(
                secrets.iter().any(|s| s["metadata"]["name"] == r["name"]
                    && s["stringData"]
                        .get(r["key"].as_str().unwrap_or(""))
                        .is_some()),
                "{env}"
            );
        }
    }
    let kustomization =
        std::fs::read_to_string(repo().join("packaging/kubernetes/kustomization.yaml"))
            .expect("kustomization.yaml");
    for line in kustomization
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
    {
        assert!(
            repo().join("packaging/kubernetes").join(line).exists(),
            "{line}"
        );
    }
}
