/*
 * The built-in metaschemas of draft-07, 2019-09 and 2020-12 (reproduced as data from the
 * JSON Schema specifications, minified), the dialects their URIs name and the vocabulary URIs
 * of each draft. References to these URIs resolve here, never over the network.
 */
#include <string.h>

#include "schema/internal.h"

static const struct sk_builtin_doc builtin_docs[] = {
    {"http://json-schema.org/draft-07/schema",
     "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"http://json-schema.or"
     "g/draft-07/schema#\",\"title\":\"Core schema meta-schema\",\"definitions\":{\"schemaArra"
     "y\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#\"}},\"nonNegativeInteger"
     "\":{\"type\":\"integer\",\"minimum\":0},\"nonNegativeIntegerDefault0\":{\"allOf\":[{\"$r"
     "ef\":\"#/definitions/nonNegativeInteger\"},{\"default\":0}]},\"simpleTypes\":{\"enum\":["
     "\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"]},\"stringAr"
     "ray\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true,\"default"
     "\":[]}},\"type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"type\":\"string\","
     "\"format\":\"uri-reference\"},\"$schema\":{\"type\":\"string\",\"format\":\"uri\"},\"$re"
     "f\":{\"type\":\"string\",\"format\":\"uri-reference\"},\"$comment\":{\"type\":\"string\""
     "},\"title\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"default\":true"
     ",\"readOnly\":{\"type\":\"boolean\",\"default\":false},\"writeOnly\":{\"type\":\"boolean"
     "\",\"default\":false},\"examples\":{\"type\":\"array\",\"items\":true},\"multipleOf\":{"
     "\"type\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"number\"},\"exclusiv"
     "eMaximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclusiveMinimum\":"
     "{\"type\":\"number\"},\"maxLength\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},\"mi"
     "nLength\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},\"pattern\":{\"type\":"
     "\"string\",\"format\":\"regex\"},\"additionalItems\":{\"$ref\":\"#\"},\"items\":{\"anyOf"
     "\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitions/schemaArray\"}],\"default\":true},\"maxIt"
     "ems\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/definit"
     "ions/nonNegativeIntegerDefault0\"},\"uniqueItems\":{\"type\":\"boolean\",\"default\":fal"
     "se},\"contains\":{\"$ref\":\"#\"},\"maxProperties\":{\"$ref\":\"#/definitions/nonNegativ"
     "eInteger\"},\"minProperties\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},\""
     "required\":{\"$ref\":\"#/definitions/stringArray\"},\"additionalProperties\":{\"$ref\":"
     "\"#\"},\"definitions\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"},\""
     "default\":{}},\"properties\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#"
     "\"},\"default\":{}},\"patternProperties\":{\"type\":\"object\",\"additionalProperties\":"
     "{\"$ref\":\"#\"},\"propertyNames\":{\"format\":\"regex\"},\"default\":{}},\"dependencies"
     "\":{\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":"
     "\"#/definitions/stringArray\"}]}},\"propertyNames\":{\"$ref\":\"#\"},\"const\":true,\"en"
     "um\":{\"type\":\"array\",\"items\":true,\"minItems\":1,\"uniqueItems\":true},\"type\":{"
     "\"anyOf\":[{\"$ref\":\"#/definitions/simpleTypes\"},{\"type\":\"array\",\"items\":{\"$re"
     "f\":\"#/definitions/simpleTypes\"},\"minItems\":1,\"uniqueItems\":true}]},\"format\":{\""
     "type\":\"string\"},\"contentMediaType\":{\"type\":\"string\"},\"contentEncoding\":{\"typ"
     "e\":\"string\"},\"if\":{\"$ref\":\"#\"},\"then\":{\"$ref\":\"#\"},\"else\":{\"$ref\":\"#"
     "\"},\"allOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"anyOf\":{\"$ref\":\"#/definitio"
     "ns/schemaArray\"},\"oneOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"not\":{\"$ref\":"
     "\"#\"}},\"default\":true}"},
    {"https://json-schema.org/draft/2019-09/schema",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/schema\",\"$vocabulary\":{\"https://json-schema.org/draft/2019-09/"
     "vocab/core\":true,\"https://json-schema.org/draft/2019-09/vocab/applicator\":true,\"http"
     "s://json-schema.org/draft/2019-09/vocab/validation\":true,\"https://json-schema.org/draf"
     "t/2019-09/vocab/meta-data\":true,\"https://json-schema.org/draft/2019-09/vocab/format\":"
     "false,\"https://json-schema.org/draft/2019-09/vocab/content\":true},\"$recursiveAnchor\""
     ":true,\"title\":\"Core and Validation specifications meta-schema\",\"allOf\":[{\"$ref\":"
     "\"meta/core\"},{\"$ref\":\"meta/applicator\"},{\"$ref\":\"meta/validation\"},{\"$ref\":"
     "\"meta/meta-data\"},{\"$ref\":\"meta/format\"},{\"$ref\":\"meta/content\"}],\"type\":[\""
     "object\",\"boolean\"],\"properties\":{\"definitions\":{\"$comment\":\"While no longer an"
     " official keyword as it is replaced by $defs, this keyword is retained in the meta-schem"
     "a to prevent incompatible extensions as it remains in common use.\",\"type\":\"object\","
     "\"additionalProperties\":{\"$recursiveRef\":\"#\"},\"default\":{}},\"dependencies\":{\"$"
     "comment\":\"\\\"dependencies\\\" is no longer a keyword, but schema authors should avoid"
     " redefining it to facilitate a smooth transition to \\\"dependentSchemas\\\" and \\\"dep"
     "endentRequired\\\"\",\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$recurs"
     "iveRef\":\"#\"},{\"$ref\":\"meta/validation#/$defs/stringArray\"}]}}}}"},
    {"https://json-schema.org/draft/2019-09/meta/core",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/meta/core\",\"$vocabulary\":{\"https://json-schema.org/draft/2019-"
     "09/vocab/core\":true},\"$recursiveAnchor\":true,\"title\":\"Core vocabulary meta-schema"
     "\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"type\":\"string\",\"form"
     "at\":\"uri-reference\",\"$comment\":\"Non-empty fragments not allowed.\",\"pattern\":\"^"
     "[^#]*#?$\"},\"$schema\":{\"type\":\"string\",\"format\":\"uri\"},\"$anchor\":{\"type\":"
     "\"string\",\"pattern\":\"^[A-Za-z][-A-Za-z0-9.:_]*$\"},\"$ref\":{\"type\":\"string\",\"f"
     "ormat\":\"uri-reference\"},\"$recursiveRef\":{\"type\":\"string\",\"format\":\"uri-refer"
     "ence\"},\"$recursiveAnchor\":{\"type\":\"boolean\",\"default\":false},\"$vocabulary\":{"
     "\"type\":\"object\",\"propertyNames\":{\"type\":\"string\",\"format\":\"uri\"},\"additio"
     "nalProperties\":{\"type\":\"boolean\"}},\"$comment\":{\"type\":\"string\"},\"$defs\":{\""
     "type\":\"object\",\"additionalProperties\":{\"$recursiveRef\":\"#\"},\"default\":{}}}}"},
    {"https://json-schema.org/draft/2019-09/meta/applicator",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/meta/applicator\",\"$vocabulary\":{\"https://json-schema.org/draft"
     "/2019-09/vocab/applicator\":true},\"$recursiveAnchor\":true,\"title\":\"Applicator vocab"
     "ulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"additionalItems"
     "\":{\"$recursiveRef\":\"#\"},\"unevaluatedItems\":{\"$recursiveRef\":\"#\"},\"items\":{"
     "\"anyOf\":[{\"$recursiveRef\":\"#\"},{\"$ref\":\"#/$defs/schemaArray\"}]},\"contains\":{"
     "\"$recursiveRef\":\"#\"},\"additionalProperties\":{\"$recursiveRef\":\"#\"},\"unevaluate"
     "dProperties\":{\"$recursiveRef\":\"#\"},\"properties\":{\"type\":\"object\",\"additional"
     "Properties\":{\"$recursiveRef\":\"#\"},\"default\":{}},\"patternProperties\":{\"type\":"
     "\"object\",\"additionalProperties\":{\"$recursiveRef\":\"#\"},\"propertyNames\":{\"forma"
     "t\":\"regex\"},\"default\":{}},\"dependentSchemas\":{\"type\":\"object\",\"additionalPro"
     "perties\":{\"$recursiveRef\":\"#\"}},\"propertyNames\":{\"$recursiveRef\":\"#\"},\"if\":"
     "{\"$recursiveRef\":\"#\"},\"then\":{\"$recursiveRef\":\"#\"},\"else\":{\"$recursiveRef\""
     ":\"#\"},\"allOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"anyOf\":{\"$ref\":\"#/$defs/schem"
     "aArray\"},\"oneOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"not\":{\"$recursiveRef\":\"#\"}"
     "},\"$defs\":{\"schemaArray\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$recursiveR"
     "ef\":\"#\"}}}}"},
    {"https://json-schema.org/draft/2019-09/meta/validation",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/meta/validation\",\"$vocabulary\":{\"https://json-schema.org/draft"
     "/2019-09/vocab/validation\":true},\"$recursiveAnchor\":true,\"title\":\"Validation vocab"
     "ulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"multipleOf\":{\""
     "type\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"number\"},\"exclusiveM"
     "aximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},\"exclusiveMinimum\":{"
     "\"type\":\"number\"},\"maxLength\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minLength"
     "\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"pattern\":{\"type\":\"string\",\""
     "format\":\"regex\"},\"maxItems\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minItems\":"
     "{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"uniqueItems\":{\"type\":\"boolean\","
     "\"default\":false},\"maxContains\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minContai"
     "ns\":{\"$ref\":\"#/$defs/nonNegativeInteger\",\"default\":1},\"maxProperties\":{\"$ref\""
     ":\"#/$defs/nonNegativeInteger\"},\"minProperties\":{\"$ref\":\"#/$defs/nonNegativeIntege"
     "rDefault0\"},\"required\":{\"$ref\":\"#/$defs/stringArray\"},\"dependentRequired\":{\"ty"
     "pe\":\"object\",\"additionalProperties\":{\"$ref\":\"#/$defs/stringArray\"}},\"const\":t"
     "rue,\"enum\":{\"type\":\"array\",\"items\":true},\"type\":{\"anyOf\":[{\"$ref\":\"#/$def"
     "s/simpleTypes\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/simpleTypes\"},\"minI"
     "tems\":1,\"uniqueItems\":true}]}},\"$defs\":{\"nonNegativeInteger\":{\"type\":\"integer"
     "\",\"minimum\":0},\"nonNegativeIntegerDefault0\":{\"$ref\":\"#/$defs/nonNegativeInteger"
     "\",\"default\":0},\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\","
     "\"number\",\"object\",\"string\"]},\"stringArray\":{\"type\":\"array\",\"items\":{\"type"
     "\":\"string\"},\"uniqueItems\":true,\"default\":[]}}}"},
    {"https://json-schema.org/draft/2019-09/meta/meta-data",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/meta/meta-data\",\"$vocabulary\":{\"https://json-schema.org/draft/"
     "2019-09/vocab/meta-data\":true},\"$recursiveAnchor\":true,\"title\":\"Meta-data vocabula"
     "ry meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"title\":{\"type\":"
     "\"string\"},\"description\":{\"type\":\"string\"},\"default\":true,\"deprecated\":{\"typ"
     "e\":\"boolean\",\"default\":false},\"readOnly\":{\"type\":\"boolean\",\"default\":false}"
     ",\"writeOnly\":{\"type\":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array\""
     ",\"items\":true}}}"},
    {"https://json-schema.org/draft/2019-09/meta/format",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/meta/format\",\"$vocabulary\":{\"https://json-schema.org/draft/201"
     "9-09/vocab/format\":true},\"$recursiveAnchor\":true,\"title\":\"Format vocabulary meta-s"
     "chema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"format\":{\"type\":\"string"
     "\"}}}"},
    {"https://json-schema.org/draft/2019-09/meta/content",
     "{\"$schema\":\"https://json-schema.org/draft/2019-09/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2019-09/meta/content\",\"$vocabulary\":{\"https://json-schema.org/draft/20"
     "19-09/vocab/content\":true},\"$recursiveAnchor\":true,\"title\":\"Content vocabulary met"
     "a-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"contentMediaType\":{\"typ"
     "e\":\"string\"},\"contentEncoding\":{\"type\":\"string\"},\"contentSchema\":{\"$recursiv"
     "eRef\":\"#\"}}}"},
    {"https://json-schema.org/draft/2020-12/schema",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/schema\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/"
     "vocab/core\":true,\"https://json-schema.org/draft/2020-12/vocab/applicator\":true,\"http"
     "s://json-schema.org/draft/2020-12/vocab/unevaluated\":true,\"https://json-schema.org/dra"
     "ft/2020-12/vocab/validation\":true,\"https://json-schema.org/draft/2020-12/vocab/meta-da"
     "ta\":true,\"https://json-schema.org/draft/2020-12/vocab/format-annotation\":true,\"https"
     "://json-schema.org/draft/2020-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"tit"
     "le\":\"Core and Validation specifications meta-schema\",\"allOf\":[{\"$ref\":\"meta/core"
     "\"},{\"$ref\":\"meta/applicator\"},{\"$ref\":\"meta/unevaluated\"},{\"$ref\":\"meta/vali"
     "dation\"},{\"$ref\":\"meta/meta-data\"},{\"$ref\":\"meta/format-annotation\"},{\"$ref\":"
     "\"meta/content\"}],\"type\":[\"object\",\"boolean\"],\"$comment\":\"This meta-schema als"
     "o defines keywords that have appeared in previous drafts in order to prevent incompatibl"
     "e extensions as they remain in common use.\",\"properties\":{\"definitions\":{\"$comment"
     "\":\"\\\"definitions\\\" has been replaced by \\\"$defs\\\".\",\"type\":\"object\",\"add"
     "itionalProperties\":{\"$dynamicRef\":\"#meta\"},\"deprecated\":true,\"default\":{}},\"de"
     "pendencies\":{\"$comment\":\"\\\"dependencies\\\" has been split and replaced by \\\"dep"
     "endentSchemas\\\" and \\\"dependentRequired\\\" in order to serve their differing semant"
     "ics.\",\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$dynamicRef\":\"#meta"
     "\"},{\"$ref\":\"meta/validation#/$defs/stringArray\"}]},\"deprecated\":true,\"default\":"
     "{}},\"$recursiveAnchor\":{\"$comment\":\"\\\"$recursiveAnchor\\\" has been replaced by "
     "\\\"$dynamicAnchor\\\".\",\"$ref\":\"meta/core#/$defs/anchorString\",\"deprecated\":true"
     "},\"$recursiveRef\":{\"$comment\":\"\\\"$recursiveRef\\\" has been replaced by \\\"$dyna"
     "micRef\\\".\",\"$ref\":\"meta/core#/$defs/uriReferenceString\",\"deprecated\":true}}}"},
    {"https://json-schema.org/draft/2020-12/meta/core",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/core\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-"
     "12/vocab/core\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Core vocabulary meta-schem"
     "a\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"$ref\":\"#/$defs/uriRef"
     "erenceString\",\"$comment\":\"Non-empty fragments not allowed.\",\"pattern\":\"^[^#]*#?$"
     "\"},\"$schema\":{\"$ref\":\"#/$defs/uriString\"},\"$ref\":{\"$ref\":\"#/$defs/uriReferen"
     "ceString\"},\"$anchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$dynamicRef\":{\"$ref\":\""
     "#/$defs/uriReferenceString\"},\"$dynamicAnchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$"
     "vocabulary\":{\"type\":\"object\",\"propertyNames\":{\"$ref\":\"#/$defs/uriString\"},\"a"
     "dditionalProperties\":{\"type\":\"boolean\"}},\"$comment\":{\"type\":\"string\"},\"$defs"
     "\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}}},\"$defs\""
     ":{\"anchorString\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},\"ur"
     "iString\":{\"type\":\"string\",\"format\":\"uri\"},\"uriReferenceString\":{\"type\":\"st"
     "ring\",\"format\":\"uri-reference\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/applicator",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/applicator\",\"$vocabulary\":{\"https://json-schema.org/draft"
     "/2020-12/vocab/applicator\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Applicator voc"
     "abulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"prefixItems\":"
     "{\"$ref\":\"#/$defs/schemaArray\"},\"items\":{\"$dynamicRef\":\"#meta\"},\"contains\":{"
     "\"$dynamicRef\":\"#meta\"},\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"proper"
     "ties\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"defau"
     "lt\":{}},\"patternProperties\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamic"
     "Ref\":\"#meta\"},\"propertyNames\":{\"format\":\"regex\"},\"default\":{}},\"dependentSch"
     "emas\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"defau"
     "lt\":{}},\"propertyNames\":{\"$dynamicRef\":\"#meta\"},\"if\":{\"$dynamicRef\":\"#meta\""
     "},\"then\":{\"$dynamicRef\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{"
     "\"$ref\":\"#/$defs/schemaArray\"},\"anyOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"oneOf\""
     ":{\"$ref\":\"#/$defs/schemaArray\"},\"not\":{\"$dynamicRef\":\"#meta\"}},\"$defs\":{\"sc"
     "hemaArray\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}}}}"},
    {"https://json-schema.org/draft/2020-12/meta/unevaluated",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/unevaluated\",\"$vocabulary\":{\"https://json-schema.org/draf"
     "t/2020-12/vocab/unevaluated\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Unevaluated "
     "applicator vocabulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\""
     "unevaluatedItems\":{\"$dynamicRef\":\"#meta\"},\"unevaluatedProperties\":{\"$dynamicRef"
     "\":\"#meta\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/validation",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/validation\",\"$vocabulary\":{\"https://json-schema.org/draft"
     "/2020-12/vocab/validation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Validation voc"
     "abulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"type\":{\"anyO"
     "f\":[{\"$ref\":\"#/$defs/simpleTypes\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#/$def"
     "s/simpleTypes\"},\"minItems\":1,\"uniqueItems\":true}]},\"const\":true,\"enum\":{\"type"
     "\":\"array\",\"items\":true},\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0}"
     ",\"maximum\":{\"type\":\"number\"},\"exclusiveMaximum\":{\"type\":\"number\"},\"minimum"
     "\":{\"type\":\"number\"},\"exclusiveMinimum\":{\"type\":\"number\"},\"maxLength\":{\"$re"
     "f\":\"#/$defs/nonNegativeInteger\"},\"minLength\":{\"$ref\":\"#/$defs/nonNegativeInteger"
     "Default0\"},\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},\"maxItems\":{\"$ref"
     "\":\"#/$defs/nonNegativeInteger\"},\"minItems\":{\"$ref\":\"#/$defs/nonNegativeIntegerDe"
     "fault0\"},\"uniqueItems\":{\"type\":\"boolean\",\"default\":false},\"maxContains\":{\"$r"
     "ef\":\"#/$defs/nonNegativeInteger\"},\"minContains\":{\"$ref\":\"#/$defs/nonNegativeInte"
     "ger\",\"default\":1},\"maxProperties\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minPr"
     "operties\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/"
     "$defs/stringArray\"},\"dependentRequired\":{\"type\":\"object\",\"additionalProperties\""
     ":{\"$ref\":\"#/$defs/stringArray\"}}},\"$defs\":{\"nonNegativeInteger\":{\"type\":\"inte"
     "ger\",\"minimum\":0},\"nonNegativeIntegerDefault0\":{\"$ref\":\"#/$defs/nonNegativeInteg"
     "er\",\"default\":0},\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null"
     "\",\"number\",\"object\",\"string\"]},\"stringArray\":{\"type\":\"array\",\"items\":{\"t"
     "ype\":\"string\"},\"uniqueItems\":true,\"default\":[]}}}"},
    {"https://json-schema.org/draft/2020-12/meta/meta-data",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/meta-data\",\"$vocabulary\":{\"https://json-schema.org/draft/"
     "2020-12/vocab/meta-data\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Meta-data vocabu"
     "lary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"title\":{\"type\""
     ":\"string\"},\"description\":{\"type\":\"string\"},\"default\":true,\"deprecated\":{\"ty"
     "pe\":\"boolean\",\"default\":false},\"readOnly\":{\"type\":\"boolean\",\"default\":false"
     "},\"writeOnly\":{\"type\":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array"
     "\",\"items\":true}}}"},
    {"https://json-schema.org/draft/2020-12/meta/format-annotation",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/format-annotation\",\"$vocabulary\":{\"https://json-schema.or"
     "g/draft/2020-12/vocab/format-annotation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\""
     "Format vocabulary meta-schema for annotation results\",\"type\":[\"object\",\"boolean\"]"
     ",\"properties\":{\"format\":{\"type\":\"string\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/content",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/content\",\"$vocabulary\":{\"https://json-schema.org/draft/20"
     "20-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Content vocabulary m"
     "eta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"contentEncoding\":{\"ty"
     "pe\":\"string\"},\"contentMediaType\":{\"type\":\"string\"},\"contentSchema\":{\"$dynami"
     "cRef\":\"#meta\"}}}"},
    {"https://json-schema.org/draft/2020-12/meta/format-assertion",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-sch"
     "ema.org/draft/2020-12/meta/format-assertion\",\"$vocabulary\":{\"https://json-schema.org"
     "/draft/2020-12/vocab/format-assertion\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Fo"
     "rmat vocabulary meta-schema for assertion results\",\"type\":[\"object\",\"boolean\"],\""
     "properties\":{\"format\":{\"type\":\"string\"}}}"},
};

const struct sk_builtin_doc *sk_builtin_find(const char *uri)
{
    for (size_t i = 0; i < sizeof(builtin_docs) / sizeof(builtin_docs[0]); i++) {
        if (strcmp(builtin_docs[i].uri, uri) == 0)
            return &builtin_docs[i];
    }
    return NULL;
}

struct dialect_def {
    const char *uri;
    unsigned draft;
    const char *name;
};

static const struct dialect_def dialects[] = {
    {"http://json-schema.org/draft-07/schema", SK_D7, "draft-07"},
    {"https://json-schema.org/draft/2019-09/schema", SK_D2019, "2019-09"},
    {"https://json-schema.org/draft/2020-12/schema", SK_D2020, "2020-12"},
};

bool sk_dialect_standard(const char *uri, struct sk_dialect *out)
{
    size_t len = strlen(uri);
    if (len && uri[len - 1] == '#')
        len--;
    for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
        if (strlen(dialects[i].uri) == len && memcmp(dialects[i].uri, uri, len) == 0) {
            out->draft = (uint8_t)dialects[i].draft;
            out->vocabs = SK_V_STANDARD;
            return true;
        }
    }
    return false;
}

const char *sk_draft_name(unsigned draft)
{
    for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
        if (dialects[i].draft == draft)
            return dialects[i].name;
    }
    return "unknown";
}

const char *sk_draft_metaschema(unsigned draft)
{
    for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
        if (dialects[i].draft == draft)
            return dialects[i].uri;
    }
    return NULL;
}

struct vocab_def {
    const char *uri;
    unsigned draft;
    unsigned bit;
};

static const struct vocab_def vocabs[] = {
    {"https://json-schema.org/draft/2019-09/vocab/core", SK_D2019, SK_V_CORE},
    {"https://json-schema.org/draft/2019-09/vocab/applicator", SK_D2019, SK_V_APPLICATOR},
    {"https://json-schema.org/draft/2019-09/vocab/validation", SK_D2019, SK_V_VALIDATION},
    {"https://json-schema.org/draft/2019-09/vocab/meta-data", SK_D2019, SK_V_METADATA},
    {"https://json-schema.org/draft/2019-09/vocab/format", SK_D2019, SK_V_FORMAT},
    {"https://json-schema.org/draft/2019-09/vocab/content", SK_D2019, SK_V_CONTENT},
    {"https://json-schema.org/draft/2020-12/vocab/core", SK_D2020, SK_V_CORE},
    {"https://json-schema.org/draft/2020-12/vocab/applicator", SK_D2020, SK_V_APPLICATOR},
    {"https://json-schema.org/draft/2020-12/vocab/unevaluated", SK_D2020, SK_V_UNEVALUATED},
    {"https://json-schema.org/draft/2020-12/vocab/validation", SK_D2020, SK_V_VALIDATION},
    {"https://json-schema.org/draft/2020-12/vocab/meta-data", SK_D2020, SK_V_METADATA},
    {"https://json-schema.org/draft/2020-12/vocab/format-annotation", SK_D2020, SK_V_FORMAT},
    {"https://json-schema.org/draft/2020-12/vocab/format-assertion", SK_D2020,
     SK_V_FORMAT | SK_V_FORMAT_ASSERT},
    {"https://json-schema.org/draft/2020-12/vocab/content", SK_D2020, SK_V_CONTENT},
};

unsigned sk_vocab_bit(const char *uri, unsigned draft)
{
    for (size_t i = 0; i < sizeof(vocabs) / sizeof(vocabs[0]); i++) {
        if (vocabs[i].draft == draft && strcmp(vocabs[i].uri, uri) == 0)
            return vocabs[i].bit;
    }
    return 0;
}
