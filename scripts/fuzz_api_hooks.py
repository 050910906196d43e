"""schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

WHIP and WHEP take an SDP offer as `application/sdp`, which is text: schemathesis sends the
strings it generates for it as it sends `text/plain`.
"""

import schemathesis

schemathesis.serializer.alias("application/sdp", "text/plain")
