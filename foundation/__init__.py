"""What the portal and the console are both built on.

Neither app imports the other; both import this. It holds the web layer they share
(security headers, CSRF, errors that carry a status and a sentence, reading request
bodies and small forms, templates, sealed tokens, serving under uvicorn), the database
engine, the blob store, and the vocabulary of a report (categories, languages). What
only one app needs stays in that app.
"""
