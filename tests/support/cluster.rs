//! A real Kubernetes API server for tests (`../shared/test-cluster`), stopped when the guard
//! drops, also when a test panics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct TestCluster {
    dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    script: PathBuf,
    k8s_port: u16,
    etcd_port: u16,
}

impl TestCluster {
    /// Starts etcd and the API server on `k8s_port` (etcd on `k8s_port - 4000` and the two after
    /// it); give every test binary its own port. With `crds`, also runs `cluster.sh crds`.
    pub fn start(k8s_port: u16, crds: bool) -> TestCluster {
        let script = super::shared().join("test-cluster/cluster.sh");
        assert!(script.is_file(), "{} is missing", script.display());
        let dir = tempfile::tempdir().expect("tempdir");
        let etcd_port = k8s_port - 4000;
        let output = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .env("K8S_PORT", k8s_port.to_string())
            .env("ETCD_PORT", etcd_port.to_string())
            .output()
            .expect("run cluster.sh start");
        let cluster = TestCluster {
            kubeconfig: PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()),
            dir,
            script,
            k8s_port,
            etcd_port,
        };
        assert!(
            output.status.success(),
            "cluster.sh start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if crds {
            cluster.run_script("crds");
        }
        cluster
    }

    fn run_script(&self, verb: &str) {
        let output = Command::new("bash")
            .arg(&self.script)
            .arg(verb)
            .arg(self.dir.path())
            .env("K8S_PORT", self.k8s_port.to_string())
            .env("ETCD_PORT", self.etcd_port.to_string())
            .output()
            .expect("run cluster.sh");
        assert!(
            output.status.success(),
            "cluster.sh {verb} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `kubectl --kubeconfig <this cluster>`, caching outside the project.
    fn kubectl_command(&self) -> Command {
        let mut command = Command::new("kubectl");
        // With HOME unset kubectl caches into .kube/ of the folder it runs in: the project.
        command
            .env(
                "KUBECACHEDIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-cache"),
            )
            .arg("--kubeconfig")
            .arg(&self.kubeconfig);
        command
    }

    /// `kubectl --kubeconfig <this cluster> ARGS`, returning stdout; panics on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = self
            .kubectl_command()
            .args(args)
            .output()
            .expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply --server-side` of `yaml`, as upstream's loop does it: custom resources whose
    /// CRD the same stream creates fail the first time, so try again once the CRDs are
    /// established; panics after three tries.
    pub fn apply(&self, yaml: &str) {
        let mut last = String::new();
        for _ in 0..3 {
            let mut child = self
                .kubectl_command()
                .args(["apply", "--server-side", "--force-conflicts", "-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run kubectl apply");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(yaml.as_bytes())
                .unwrap();
            let output = child.wait_with_output().expect("kubectl apply");
            if output.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&output.stderr).into_owned();
            self.kubectl(&[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                "crd",
                "--all",
            ]);
        }
        panic!("kubectl apply kept failing: {last}");
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .env("K8S_PORT", self.k8s_port.to_string())
            .env("ETCD_PORT", self.etcd_port.to_string())
            .status();
    }
}
