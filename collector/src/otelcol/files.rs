//! `burnwatch collector validate`: the files a configuration names, opened and parsed as
//! starting the collector would, so a missing token file, an htpasswd line with a broken
//! hash or an unreadable certificate fails validation, naming the key and the file, instead
//! of failing start-up later.

use super::Config;
use crate::config::ConfigError;

impl Config {
    /// Reads every file the configuration names: `bearertokenauth.filename`,
    /// `basicauth.htpasswd.file`, the receivers' `tls` certificate, key and client CA, and the
    /// exporters' `tls` CA, certificate and key (when the exporter will use TLS). The first
    /// that is missing or cannot be parsed is the error, with its YAML path. Nothing is bound
    /// or contacted. What each component reads is its kind's list's business
    /// (`ExtensionConfig::check_files`, …).
    pub fn check_files(&self) -> Result<(), ConfigError> {
        for (id, extension) in &self.extensions {
            extension.check_files(&format!("extensions.{id}"))?;
        }
        for (id, receiver) in &self.receivers {
            receiver.check_files(&format!("receivers.{id}"))?;
        }
        for (id, exporter) in &self.exporters {
            exporter.check_files(&format!("exporters.{id}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with an HTTP receiver authenticated by `extension`, defined by `extensions`
    /// (YAML under `extensions:`), and `extra` top-level YAML.
    fn config(extension: &str, extensions: &str, receiver_tls: &str, exporters: &str) -> Config {
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        auth:\n          authenticator: {extension}\n{receiver_tls}\
             exporters:\n  debug: {{}}\n{exporters}\
             extensions:\n{extensions}\
             service:\n  extensions: [{extension}]\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n"
        );
        Config::from_yaml(&yaml).unwrap()
    }

    const TOKEN: &str = "  bearertokenauth:\n    token: t\n";

    #[test]
    fn a_missing_token_file_names_the_key_and_file() {
        let c = config(
            "bearertokenauth",
            "  bearertokenauth:\n    filename: /nonexistent/token\n",
            "",
            "",
        );
        let err = c.check_files().unwrap_err();
        assert_eq!(err.path, "extensions.bearertokenauth.filename");
        assert!(err.message.contains("/nonexistent/token"), "{err}");
    }

    #[test]
    fn a_broken_htpasswd_file_names_the_key_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("htpasswd");
        std::fs::write(
            &file,
            "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nbob:$apr1$x$short\n",
        )
        .unwrap();
        let c = config(
            "basicauth",
            &format!("  basicauth:\n    htpasswd:\n      file: {}\n", file.display()),
            "",
            "",
        );
        let err = c.check_files().unwrap_err();
        assert_eq!(err.path, "extensions.basicauth.htpasswd.file");
        assert!(
            err.message
                .starts_with(&format!("{} line 2: invalid $apr1$ MD5 hash", file.display())),
            "{err}"
        );
    }

    #[test]
    fn unreadable_receiver_and_exporter_certificates_name_the_key() {
        let receiver_tls = "        tls:\n          cert_file: /nonexistent/cert.pem\n          key_file: /nonexistent/key.pem\n";
        let err = config("bearertokenauth", TOKEN, receiver_tls, "")
            .check_files()
            .unwrap_err();
        assert_eq!(err.path, "receivers.otlp.protocols.http.tls.cert_file");

        let exporters = "  otlp/backend:\n    endpoint: backend:4317\n    tls:\n      ca_file: /nonexistent/ca.pem\n\
                         \x20 otlphttp:\n    endpoint: https://backend:4318\n    tls:\n      insecure_skip_verify: true\n";
        let err = config("bearertokenauth", TOKEN, "", exporters)
            .check_files()
            .unwrap_err();
        assert_eq!(err.path, "exporters.otlp/backend.tls.ca_file");
        assert!(err.message.contains("/nonexistent/ca.pem"), "{err}");

        // Plain-text exporters read no TLS files.
        let exporters = "  otlp/backend:\n    endpoint: backend:4317\n    tls:\n      insecure: true\n";
        config("bearertokenauth", TOKEN, "", exporters)
            .check_files()
            .unwrap();
    }
}
