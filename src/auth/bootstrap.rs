//! First-run convenience for the embedded default: a dev user, a `default` project and a PAT,
//! so `ragway serve` on a fresh data dir can be used at once. The PAT is written to
//! `data_dir/dev-token` (mode 0600) and printed; later starts print it again from the file.

use std::path::PathBuf;

use anyhow::Context;

use super::token;
use crate::state::AppState;
use crate::store::tenancy::TokenKind;

pub const DEV_USER: &str = "dev";
pub const DEV_PROJECT: &str = "default";

/// Returns the dev PAT when one exists (new or from an earlier run).
pub async fn dev_token(state: &AppState) -> anyhow::Result<Option<(PathBuf, String)>> {
    let path = state.config.data_dir.join("dev-token");
    if state.db.count_users().await? > 0 {
        return Ok(std::fs::read_to_string(&path)
            .ok()
            .map(|t| (path, t.trim().to_owned())));
    }
    state.db.create_user(DEV_USER, "Developer").await?;
    state
        .db
        .create_project(DEV_PROJECT, "Default project", Some(DEV_USER))
        .await?;
    let secret = token::generate(TokenKind::Pat);
    state
        .db
        .insert_token(
            TokenKind::Pat,
            &token::hash(&secret),
            &token::prefix(&secret),
            "dev",
            Some(DEV_USER),
            None,
        )
        .await?;
    std::fs::create_dir_all(&state.config.data_dir)?;
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(Some((path, secret)))
}

fn write_private(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    writeln!(f, "{secret}")
}
