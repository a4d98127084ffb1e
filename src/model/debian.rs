//! Debian's cluster layout, as pg_createcluster makes it and pg_lsclusters
//! lists it: a config or data dir in, the cluster it names out, and that
//! cluster's own dirs, binaries and log. Pure.

const CONFIG_ROOT: &str = "/etc/postgresql";
const DATA_ROOT: &str = "/var/lib/postgresql";

/// One cluster of Debian's layout: `<major>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianCluster {
    pub major: String,
    pub name: String,
}

impl DebianCluster {
    /// The cluster whose config dir is `/etc/postgresql/<major>/<name>`.
    pub fn from_config_dir(path: &str) -> Option<Self> {
        Self::under(path, CONFIG_ROOT)
    }

    /// The cluster whose data dir is `/var/lib/postgresql/<major>/<name>`.
    pub fn from_data_dir(path: &str) -> Option<Self> {
        Self::under(path, DATA_ROOT)
    }

    fn under(path: &str, root: &str) -> Option<Self> {
        let rest = path
            .trim_end_matches('/')
            .strip_prefix(root)?
            .strip_prefix('/')?;
        let (major, name) = rest.split_once('/')?;
        let major_ok = !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit());
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        (major_ok && name_ok).then(|| Self {
            major: major.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn config_dir(&self) -> String {
        format!("{CONFIG_ROOT}/{}/{}", self.major, self.name)
    }

    pub fn data_dir(&self) -> String {
        format!("{DATA_ROOT}/{}/{}", self.major, self.name)
    }

    pub fn bin_dir(&self) -> String {
        format!("/usr/lib/postgresql/{}/bin", self.major)
    }

    /// The log pg_ctlcluster writes and pg_lsclusters names.
    pub fn log_file(&self) -> String {
        format!(
            "/var/log/postgresql/postgresql-{}-{}.log",
            self.major, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_of_debian_clusters() {
        let cluster = DebianCluster::from_config_dir("/etc/postgresql/16/app/").unwrap();
        assert_eq!(
            (cluster.data_dir(), cluster.bin_dir(), cluster.log_file()),
            (
                "/var/lib/postgresql/16/app".to_owned(),
                "/usr/lib/postgresql/16/bin".to_owned(),
                "/var/log/postgresql/postgresql-16-app.log".to_owned()
            )
        );
        assert_eq!(
            DebianCluster::from_data_dir("/var/lib/postgresql/15/main")
                .unwrap()
                .config_dir(),
            "/etc/postgresql/15/main"
        );
        for not_debian in [
            "/etc/postgresql/x/main",
            "/etc/postgresql/15",
            "/etc/postgresql/15/a/b",
            "/etc/postgresql/15/a b",
            "/srv/pg/etc",
        ] {
            assert_eq!(
                DebianCluster::from_config_dir(not_debian),
                None,
                "{not_debian}"
            );
        }
    }
}
