//! `/deploys/ID/export`: the same tar.gz as `bosun export`, written to an unnamed temporary file
//! (gone when the download ends) and streamed from it.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use super::Page;
use super::html::error_page;
use crate::journal::JournalError;

pub async fn export(State(page): State<Page>, Path(id): Path<i64>) -> Response {
    let state_dir = page.inner.config.bot.state_dir.clone();
    let dir = state_dir.clone();
    let file = match tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        tempfile::tempfile_in(&dir)
    })
    .await
    {
        Ok(Ok(file)) => file,
        _ => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot make a temporary file for the export",
            );
        }
    };
    let written = crate::journal::export_to(&page.inner.journal, id, file, Some(&state_dir)).await;
    let mut file = match written {
        Ok(file) => tokio::fs::File::from_std(file),
        Err(JournalError::NoSuchDeploy(id)) => {
            return error_page(StatusCode::NOT_FOUND, &format!("no deploy #{id}"));
        }
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot export deploy #{id}: {e}"),
            );
        }
    };
    if let Err(e) = tokio::io::AsyncSeekExt::rewind(&mut file).await {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot read the export back: {e}"),
        );
    }
    (
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"bosun-deploy-{id}.tar.gz\""),
            ),
        ],
        Body::from_stream(ReaderStream::new(file)),
    )
        .into_response()
}
