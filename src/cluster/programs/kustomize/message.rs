//! kustomize's error message as a person needs it: kubectl's log prefix, deprecation warnings and
//! Go value dumps dropped, echoed configuration cut, and a long message shortened so that its
//! cause, which kustomize puts last, stays.

/// The longest line of kustomize's message kfpatch passes on; beyond it is an echo of a patch or
/// an object nobody reads on one line.
const LONGEST_LINE: usize = 240;

/// The most lines of kustomize's message kfpatch passes on: its `Error:` line (or its first) and
/// the last ones, which hold the cause.
const MOST_LINES: usize = 8;

/// The longest step of a chained error (`a: b: cause`) kept whole; a longer one is an echo.
const LONGEST_STEP: usize = 130;

/// kustomize's error as a person needs it: no deprecation warnings, no kubectl log prefix
/// (`E1129 02:51:18.163477 23577 run.go:72] "command failed" err="..."`, or its multi-line `err=<`
/// form), Go value dumps (`&{0xc00155e5b0 <nil>}`, `resid.ResId{...}`) replaced by the object they
/// name, the configuration a transformer echoes cut to its first line, a line longer than
/// [`LONGEST_LINE`] shortened by [`cut`] (its cause, at the end, kept), and of more than
/// [`MOST_LINES`] lines the `Error:` line and the last ones.
pub fn error_lines(stderr: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut input = stderr.lines();
    while let Some(line) = input.next() {
        if line.starts_with("# Warning") || line.trim().is_empty() {
            continue;
        }
        match line.split_once("\"command failed\" err=") {
            Some((_, "<")) => {
                for inner in input.by_ref() {
                    if inner.trim() == ">" {
                        break;
                    }
                    lines.push(inner.strip_prefix('\t').unwrap_or(inner).to_string());
                }
            }
            Some((_, quoted)) => lines.push(unquote(quoted)),
            None => lines.push(line.to_string()),
        }
    }
    let text = without_config_echo(&without_go_dumps(&lines.join("\n")));
    let lines: Vec<String> = text.lines().map(cut).collect();
    if lines.len() <= MOST_LINES {
        return lines.join("\n");
    }
    let first = lines
        .iter()
        .position(|l| l.starts_with("Error: "))
        .unwrap_or(0);
    let last = lines.len() - (MOST_LINES - 1);
    let mut kept = vec![lines[first].clone()];
    if first + 1 < last {
        kept.push(format!("[{} lines left out]", last - first - 1));
    }
    kept.extend(lines[last.max(first + 1)..].iter().cloned());
    kept.join("\n")
}

/// A klog-quoted value: surrounding quotes dropped, `\"`, `\\`, `\n` and `\t` read back.
fn unquote(quoted: &str) -> String {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(quoted);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `&{0xc00155e5b0 <nil>}` goes; `resid.ResId{Gvk:resid.Gvk{...Kind:"ConfigMap"...}, Name:"x",
/// Namespace:""}` becomes `ConfigMap x`.
fn without_go_dumps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let pointer = rest.find("&{0x");
        let resid = rest.find("resid.ResId{");
        let at = match (pointer, resid) {
            (Some(p), Some(r)) => p.min(r),
            (Some(p), None) => p,
            (None, Some(r)) => r,
            (None, None) => break,
        };
        out.push_str(rest[..at].trim_end_matches(' '));
        let Some(len) = balanced(&rest[at..]) else {
            out.push_str(&rest[at..]);
            return out;
        };
        let dump = &rest[at..at + len];
        if dump.starts_with("resid.ResId{") {
            let field = |name: &str| {
                let key = format!("{name}:\"");
                dump.find(&key).and_then(|i| {
                    let value = &dump[i + key.len()..];
                    value.find('"').map(|end| value[..end].to_string())
                })
            };
            let kind = field("Kind").unwrap_or_default();
            let name = field("Name").unwrap_or_default();
            out.push(' ');
            out.push_str(&format!("{kind} {name}"));
            if let Some(ns) = field("Namespace").filter(|n| !n.is_empty()) {
                out.push_str(&format!(" (namespace {ns})"));
            }
        }
        rest = &rest[at + len..];
    }
    out.push_str(rest);
    out
}

/// The length of `text` up to and including the brace that closes its first `{`.
fn balanced(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `with config: `...`: ` (a transformer echoing its whole configuration) cut to the config's
/// first line.
fn without_config_echo(text: &str) -> String {
    const START: &str = "with config: `";
    let Some(at) = text.find(START) else {
        return text.to_string();
    };
    let body = &text[at + START.len()..];
    let Some(end) = body.find("`: ") else {
        return text.to_string();
    };
    let first = body[..end]
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    format!(
        "{}with config `{} ...`: {}",
        &text[..at],
        cut_to(first, 60),
        &body[end + 3..]
    )
}

/// A line longer than [`LONGEST_LINE`] characters, shortened. kustomize chains its errors with
/// `: `, what it was doing first and the cause last (`accumulating resources: ...: lstat
/// base/missing.env: no such file or directory`): a step longer than [`LONGEST_STEP`] (an echoed
/// patch or object) keeps its two ends (the last step, the cause, is kept whole up to
/// [`LONGEST_LINE`]), and when the line is still too long the steps between the first and the
/// last are left out from the front until the rest fits.
fn cut(line: &str) -> String {
    if line.chars().count() <= LONGEST_LINE {
        return line.to_string();
    }
    let found = without_other_attempt(steps(line));
    let last = found.len() - 1;
    // The last step, the cause, is kept whole unless it is itself longer than a line.
    let steps: Vec<(usize, String)> = found
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let most = if i == last {
                LONGEST_LINE
            } else {
                LONGEST_STEP
            };
            (step.chars().count(), cut_middle(step, most))
        })
        .collect();
    let shown = |s: &[(usize, String)]| {
        s.iter()
            .map(|(_, step)| step.as_str())
            .collect::<Vec<_>>()
            .join(": ")
    };
    let whole = shown(&steps);
    if whole.chars().count() <= LONGEST_LINE || steps.len() < 3 {
        return whole;
    }
    // The first step and the marker, then steps from the end while they fit (the last always).
    let mut used = steps[0].1.chars().count() + "[999 characters left out]: ".len();
    let mut from = steps.len() - 1;
    used += steps[from].1.chars().count() + 2;
    while from > 1 && used + steps[from - 1].1.chars().count() + 2 <= LONGEST_LINE {
        from -= 1;
        used += steps[from].1.chars().count() + 2;
    }
    if from == 1 {
        return whole;
    }
    let left_out: usize = steps[1..from].iter().map(|(n, _)| n + 2).sum();
    format!(
        "{}: [{left_out} characters left out]: {}",
        steps[0].1,
        shown(&steps[from..])
    )
}

/// The steps of a chained error: `line` split at every `: ` outside brackets, backticks and
/// double quotes (an echoed patch such as `from [patch: "spec: ..."]` is one step).
fn steps(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut open: Vec<char> = Vec::new();
    let mut start = 0;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (open.last(), c) {
            (Some('`'), '`') | (Some('"'), '"') => {
                open.pop();
            }
            (Some('`' | '"'), _) => {}
            (_, '`' | '"' | '[' | '{' | '(') => open.push(c),
            (Some('['), ']') | (Some('{'), '}') | (Some('('), ')') => {
                open.pop();
            }
            (None, ':') if chars.peek().is_some_and(|(_, next)| *next == ' ') => {
                out.push(&line[start..i]);
                chars.next();
                start = i + 2;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// kustomize reads a `resources:` entry as a file and then as a folder, and its error names both
/// attempts: the one that failed only because the entry is the other kind (`'DIR' must resolve
/// to a file`, `must build at directory: 'FILE': file is not directory`) is left out.
fn without_other_attempt(mut steps: Vec<&str>) -> Vec<&str> {
    steps.retain(|step| !step.ends_with("' must resolve to a file'"));
    if let [.., build, _, not_dir] = steps.as_slice()
        && *build == "must build at directory"
        && *not_dir == "file is not directory"
    {
        steps.truncate(steps.len() - 3);
    }
    steps
}

/// `text` with the middle of it left out when longer than `n` characters.
fn cut_middle(text: &str, n: usize) -> String {
    let count = text.chars().count();
    if count <= n {
        return text.to_string();
    }
    let (head, tail) = (n * 2 / 3, n / 3);
    format!(
        "{} [{} characters left out] {}",
        text.chars().take(head).collect::<String>(),
        count - head - tail,
        text.chars().skip(count - tail).collect::<String>()
    )
}

fn cut_to(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_value_dumps_name_the_object() {
        let stderr = "E1130 09:11:32.788375 25632 run.go:72] \"command failed\" err=\"merging from generator &{0xc00155e5b0 <nil>}: id resid.ResId{Gvk:resid.Gvk{Group:\\\"\\\", Version:\\\"v1\\\", Kind:\\\"ConfigMap\\\", isClusterScoped:false}, Name:\\\"no-such-config\\\", Namespace:\\\"\\\"} does not exist; cannot merge or replace\"\n";
        assert_eq!(
            error_lines(stderr),
            "merging from generator: id ConfigMap no-such-config does not exist; cannot merge or replace"
        );
    }

    #[test]
    fn echoed_patches_are_cut() {
        let patch = "\\n        value: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'".repeat(40);
        let stderr = format!(
            "# Warning: 'bases' is deprecated.\nE1130 09:15:11.674788 2772 run.go:72] \"command failed\" err=<\n\ttrouble configuring builtin PatchTransformer with config: `\n\tpatch: \"spec:\\n  template:{patch}\"\n\ttarget:\n\t  kind: Deployment\n\t`: unable to parse SM or JSON patch from [patch: \"spec:\\n  template:{patch}\"]\n >\n"
        );
        assert_eq!(
            error_lines(&stderr),
            "trouble configuring builtin PatchTransformer with config `patch: \"spec:\\n  template:\\n        value: 'xxxxxxxxxxxxxxxx... ...`: unable to parse SM or JSON patch from [patch: \"spec:\\n  template:\\n        value: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\\n        value: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxx [1787 characters left out] xxxxxxxxxxxxxxxxxxxxxxxxxxxx'\\n        value: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\"]"
        );
    }

    /// Real `kubectl kustomize` (kustomize v5.5.0) errors from a checkout under a long path: the
    /// line is shortened, and the cause at its end stays.
    #[test]
    fn a_long_error_keeps_its_cause() {
        let refused = r#"E1206 05:13:58.666730   24011 run.go:72] "command failed" err="accumulating resources: accumulation err='accumulating resources from '../generic': '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/pipeline/installs/generic' must resolve to a file': recursed accumulation of path '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/pipeline/installs/generic': loading KV pairs: env source files: [../../upstream/base/params.env]: security; file '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/pipeline/upstream/base/params.env' is not in or below '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/pipeline/installs/generic'"
"#;
        assert_eq!(
            error_lines(refused),
            "accumulating resources: [251 characters left out]: security; file '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/pipeline/upstream/base/params.env' is not in or below '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/pipeline/installs/generic'"
        );
        let missing = r#"E1206 05:13:58.785955   24076 run.go:72] "command failed" err="accumulating resources: accumulation err='accumulating resources from '../../../../base/cms': '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms' must resolve to a file': recursed accumulation of path '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms': loading KV pairs: env source files: [missing.env]: evalsymlink failure on '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms/missing.env' : lstat /tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms/missing.env: no such file or directory"
"#;
        assert_eq!(
            error_lines(missing),
            "accumulating resources: [335 characters left out]: lstat /tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms/missing.env: no such file or directory"
        );
    }

    /// kustomize tries a `resources:` entry as a file, then as a folder; the cause of a file
    /// entry is in the middle of the line, before the folder attempt, which is left out.
    #[test]
    fn the_other_attempt_is_left_out_of_a_long_error() {
        let repeated = r#"E1206 05:13:58.748102   24064 run.go:72] "command failed" err="accumulating resources: accumulation err='accumulating resources from '../../../../base/cms': '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms' must resolve to a file': recursed accumulation of path '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms': accumulating resources: accumulation err='merging resources from 'cm2.yaml': may not add resource with an already registered id: ConfigMap.v1.[noGrp]/y.[noNs]': must build at directory: '/tmp/kerr/home/someone/projects/platform-team/kubeflow-gitops/base/cms/cm2.yaml': file is not directory"
"#;
        assert_eq!(
            error_lines(repeated),
            "accumulating resources: [174 characters left out]: accumulating resources: accumulation err='merging resources from 'cm2.yaml': may not add resource with an already registered id: ConfigMap.v1.[noGrp]/y.[noNs]'"
        );
    }

    /// The multi-line form of kubectl's log line (`err=<`), as kubectl kustomize v5.5.0 prints it
    /// for a patch file that is not YAML, is read back line by line, and the cause kept.
    #[test]
    fn a_multi_line_error_is_read_back() {
        let stderr = "# Warning: 'patchesStrategicMerge' is deprecated. Please use 'patches' instead. Run 'kustomize edit fix' to update your Kustomization automatically.\nE1206 05:11:31.351680   10799 run.go:72] \"command failed\" err=<\n\taccumulating resources: accumulation err='accumulating resources from '../../../base': '/tmp/kerr/b/a-fairly-long-folder-name/with/several/levels/base' must resolve to a file': recursed accumulation of path '/tmp/kerr/b/a-fairly-long-folder-name/with/several/levels/base': trouble configuring builtin PatchTransformer with config: `\n\tpath: patch.yaml\n\t`: unable to parse SM or JSON patch from [path: \"patch.yaml\"]\n >\n";
        assert_eq!(
            error_lines(stderr),
            "accumulating resources: [159 characters left out]: trouble configuring builtin PatchTransformer with config `path: patch.yaml ...`: unable to parse SM or JSON patch from [path: \"patch.yaml\"]"
        );
    }

    /// Of a message of many lines (an object kustomize echoes), its `Error:` line and the last
    /// lines are kept.
    #[test]
    fn of_many_lines_the_error_line_and_the_last_are_kept() {
        let echo: String = (1..=12)
            .map(|n| format!("  line {n} of an echoed object\n"))
            .collect();
        let stderr = format!(
            "Error: accumulating resources: a cause follows\n{echo}: no such file or directory\n"
        );
        assert_eq!(
            error_lines(&stderr),
            "Error: accumulating resources: a cause follows\n[6 lines left out]\n  line 7 of an echoed object\n  line 8 of an echoed object\n  line 9 of an echoed object\n  line 10 of an echoed object\n  line 11 of an echoed object\n  line 12 of an echoed object\n: no such file or directory"
        );
    }

    #[test]
    fn kubectl_log_prefix_is_dropped() {
        assert_eq!(
            error_lines(
                "# Warning: 'bases' is deprecated.\nE1129 02:51:18.163477   23577 run.go:72] \"command failed\" err=\"accumulating resources: no such file\"\n"
            ),
            "accumulating resources: no such file"
        );
    }
}
