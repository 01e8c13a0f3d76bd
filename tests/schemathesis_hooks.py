"""Schemathesis hooks for tests/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

`GET /api/v1/admin/export` answers multi-document YAML (`application/yaml`, RFC 9512 allows a
stream of documents); Schemathesis' own YAML reader takes a single document only. The body is
read as the list of its documents, which is what the operation documents for that media type.
"""
import schemathesis
import yaml
from schemathesis.core import media_types


# Every YAML media type: the first registered one of the family answers for all of them.
@schemathesis.deserializer(*media_types.YAML_MEDIA_TYPES)
def multi_document_yaml(ctx, response):
    return list(yaml.safe_load_all(response.content.decode(response.encoding or "utf-8")))
