"""The web service's defences: server-side sessions, login throttling, request limits, security
headers, Origin checks, fixed redirect messages and the offline API documentation.

``install.install(app, settings)`` adds the middleware, exception handlers and documentation
routes; the pieces live in one module each (``sessions``, ``login``, ``throttle``,
``middleware``, ``flash``, ``docs``). Nothing is imported here: ``api.deps`` and ``api.users``
import ``sessions`` without pulling in the middleware (which imports them).
"""
