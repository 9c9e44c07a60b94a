//! The workflow's `hosts:` map: the hosts its steps name with `on:`, each field a template.

use indexmap::IndexMap;

use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::HostSpec;

/// The text fields of a host entry, with an example of each.
const FIELDS: [(&str, &str); 7] = [
    ("address", "address: 10.0.0.5"),
    ("port", "port: 2222"),
    ("user", "user: deploy"),
    ("identity_file", "identity_file: ~/.ssh/deploy_ed25519"),
    ("jump", "jump: bastion"),
    ("known_hosts", "known_hosts: ~/.ssh/known_hosts"),
    ("workdir", "workdir: /srv/app"),
];

/// Converts `hosts:`; problems go to `r`.
pub fn convert_hosts(r: &mut Reader<'_>, node: &Node) -> IndexMap<String, HostSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = r.map(
        node,
        "hosts",
        "hosts: { web1: { address: 10.0.0.5, user: deploy } }",
    ) else {
        return out;
    };
    for (key, value) in entries {
        let what = format!("hosts.{}", key.name);
        let mut host = HostSpec::default();
        host.pos.insert(String::new(), key.pos);
        match &value.value {
            Value::Map(fields) => {
                let mut t = Table::new(fields);
                for (field, example) in FIELDS {
                    let Some(n) = t.get(r, field, &[]) else {
                        continue;
                    };
                    host.pos.insert(field.to_string(), n.pos);
                    let text = r.non_empty_string(n, &format!("{what}.{field}"), example);
                    let slot = match field {
                        "address" => &mut host.address,
                        "port" => &mut host.port,
                        "user" => &mut host.user,
                        "identity_file" => &mut host.identity_file,
                        "jump" => &mut host.jump,
                        "known_hosts" => &mut host.known_hosts,
                        _ => &mut host.workdir,
                    };
                    *slot = text;
                }
                if let Some(n) = t.get(r, "env", &[]) {
                    let (env, places) =
                        r.string_map(n, &format!("{what}.env"), "env: { APP_ENV: prod }");
                    for (k, p) in places {
                        host.pos.insert(format!("env.{k}"), p);
                    }
                    host.env = env;
                }
                t.finish(r, format_args!("host `{}`", key.name));
            }
            // `web1: 10.0.0.5` is the address alone.
            Value::Str(_) => {
                host.pos.insert("address".into(), value.pos);
                host.address = r.non_empty_string(value, &what, "web1: 10.0.0.5");
            }
            other => {
                r.error(
                    value.pos,
                    format!(
                        "`{what}` must be a mapping or an address, not {}",
                        other.type_name()
                    ),
                    Some("write it like `web1: { address: 10.0.0.5, user: deploy }`".into()),
                );
                continue;
            }
        }
        out.insert(key.name.to_string(), host);
    }
    out
}

impl HostSpec {
    /// Every templated text of the entry, with its label (`address`, `env.NAME`, ...).
    pub fn templates(&self) -> Vec<(String, &str)> {
        let fields = [
            ("address", &self.address),
            ("port", &self.port),
            ("user", &self.user),
            ("identity_file", &self.identity_file),
            ("jump", &self.jump),
            ("known_hosts", &self.known_hosts),
            ("workdir", &self.workdir),
        ];
        let mut out: Vec<(String, &str)> = fields
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k.to_string(), v)))
            .collect();
        out.extend(
            self.env
                .iter()
                .map(|(k, v)| (format!("env.{k}"), v.as_str())),
        );
        out
    }
}
