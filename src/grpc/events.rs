//! `EventService`: append triple events in batches, read them from a revision, watch them.

use crate::app::App;
use crate::app::service::MAX_BATCH;
use crate::domain::DomainError;
use crate::grpc::pb::event_service_server::EventService;
use crate::grpc::{call_context, convert, invalid, pb, status};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub struct EventApi {
    pub app: Arc<App>,
    /// Stops watch streams on shutdown.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Shutdown waits for every watch stream's task.
    pub tracker: tokio_util::task::TaskTracker,
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventApi {
    async fn append_events(
        &self,
        req: Request<pb::AppendEventsRequest>,
    ) -> Result<Response<pb::AppendEventsResponse>, Status> {
        let ctx = call_context(&req, "");
        let deadline = crate::grpc::deadline(&req);
        let events = req.into_inner().events;
        if events.len() > MAX_BATCH {
            return Err(invalid(DomainError::new(
                "events",
                format!("has {} events; the limit is {MAX_BATCH}", events.len()),
            )));
        }
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| convert::new_event(i, e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let written = self.app.append(events, &ctx, deadline).await.map_err(status)?;
        Ok(Response::new(pb::AppendEventsResponse {
            revision: written.outcome.revision,
            still_held: convert::still_held(&written.outcome.still_held),
            event_ids: written.outcome.ids,
            visible: written.visible,
        }))
    }

    async fn read_events(
        &self,
        req: Request<pb::ReadEventsRequest>,
    ) -> Result<Response<pb::ReadEventsResponse>, Status> {
        let r = req.into_inner();
        let aggregate = (!r.aggregate_id.is_empty()).then_some(r.aggregate_id.as_str());
        let (events, head) = self
            .app
            .read_events(r.after_revision, r.page_size, aggregate)
            .await
            .map_err(status)?;
        let next = events.last().map_or(r.after_revision, |e| e.position);
        Ok(Response::new(pb::ReadEventsResponse {
            events: events.iter().map(convert::stored_event).collect(),
            next_after_revision: next,
            head_revision: head,
        }))
    }

    type WatchEventsStream = WatchStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let mut after = req.into_inner().after_revision;
        let app = self.app.clone();
        let shutdown = self.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::WatchEventsResponse, Status>>(4);
        // The stream's task names the call's request id in what it logs and reports.
        let request_id = crate::grpc::observe::current_request_id().unwrap_or_default();
        self.tracker
            .spawn(crate::grpc::observe::scope_request_id(request_id, async move {
                let mut applied = app.projector().subscribe();
                loop {
                    match app.applied_events_after(after).await {
                        Ok(events) if !events.is_empty() => {
                            after = events.last().map_or(after, |e| e.position);
                            let msg = pb::WatchEventsResponse {
                                events: events.iter().map(convert::stored_event).collect(),
                            };
                            if tx.send(Ok(msg)).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let _ = tx.send(Err(status(e))).await;
                            return;
                        }
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tx.closed() => return,
                        changed = applied.changed() => if changed.is_err() { return },
                    }
                }
            }));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}
