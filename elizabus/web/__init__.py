"""The web chat page: one Django view serving ``templates/chat.html`` at ``/``.

Everything the page does happens in the browser (``static/elizabus/chat.js``) through the public
REST API and the Socket.IO layer, like any other elizaOS client; this package only serves the page
and its configuration.
"""
