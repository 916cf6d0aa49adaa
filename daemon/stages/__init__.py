"""The daemon's pipeline, one module per stage, in the order data flows:

1. ingest      a file lands in a watched folder -> a catalogued daily (IngestJob)
2. requests    a coordinator's fix request in the tracker -> a catalogued request and a FixJob per kind
   (webhooks   the same from Flow webhook deliveries on the HTTP port, the poller as the catch-up path)
3. training    a show's dailies -> a new model version, promoted when not worse (TrainJob, from scheduling)
4. fixing      a FixJob -> the shot's daily through the show model's head -> rendered files in the outbox
5. rendering   the fixed frames -> review movie, before/after, thumbnail, LUT, OTIO (called by fixing)
6. publishing  the outbox -> a Version in the tracker, exactly once (PublishJob)
7. feedback    supervisors' approvals and rejections -> back into the catalog
8. answering   a request not done (unreadable text, a fix that ended for good) -> a note on its task saying
   why, the task out of the fix status (AnswerJob, in the publish lane)

Stages talk through the catalog and the typed job payloads of daemon.jobs; daemon.service wires them to
watchers, pollers, the scheduler and the job lanes.
"""
