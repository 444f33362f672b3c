"""Vocabularies of the SQL analyzer: dangerous functions and procedures, catalog
and credential names, statements kept as raw text.

Kept apart from `agentgate.analyzers.sql` so the lists can be read and extended in
one place. Names are matched lower-cased; credential names by their last word(s),
so ``password_hash`` and ``api_key`` count but ``password_changed_at`` and
``token_count`` do not.

>>> "pg_read_file" in FILE_FUNCS, ("api", "key") in CRED_PAIRS
(True, True)
"""

from __future__ import annotations

import re


def words_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def pairs(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(p.split("_")) for p in text.split())


FILE_FUNCS = words_set(
    "pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file pg_file_write pg_file_read pg_file_rename "
    "pg_file_unlink pg_logdir_ls lo_import lo_export load_file readfile writefile read_text read_blob "
    "openrowset opendatasource bulk_insert"
)
FILE_READERS = words_set(
    "read_csv read_csv_auto read_json read_json_auto read_ndjson read_ndjson_auto read_parquet parquet_scan "
    "csv_scan read_xlsx"
)
OS_FUNCS = words_set("load_extension sys_exec sys_eval xp_cmdshell sp_oacreate sp_oamethod")
NET_FUNCS = words_set("dblink dblink_exec dblink_connect dblink_connect_u dblink_send_query openquery")
OS_PROCS = words_set("xp_cmdshell sp_oacreate sp_oamethod sp_execute_external_script xp_regwrite xp_dirtree")
PRIV_PROCS = words_set(
    "sp_addsrvrolemember sp_addrolemember sp_addlogin sp_password sp_grantlogin sp_changeobjectowner"
)
UNTRUSTED_LANGS = words_set("c plpythonu plpython2u plpython3u plperlu pltclu plsh plr internal")
DANGEROUS_EXT = words_set(
    "plpythonu plpython2u plpython3u plperlu pltclu plsh adminpack file_fdw dblink postgres_fdw lo plr"
)
FILE_SETTINGS = words_set("general_log_file slow_query_log_file plugin_dir secure_file_priv general_log")

CATALOG_SCHEMAS = words_set("information_schema pg_catalog sys")
CATALOG_TABLES = words_set(
    "sqlite_master sqlite_schema sqlite_temp_master pg_tables pg_views pg_indexes pg_class pg_attribute "
    "pg_namespace pg_type pg_constraint pg_index pg_description pg_matviews pg_sequences pg_proc "
    "pg_stat_user_tables pg_database"
)
# System catalogs holding password hashes: reading them is credential theft.
SYS_CRED_TABLES = words_set(
    "pg_shadow pg_authid pg_user_mapping pg_user_mappings sql_logins syslogins sysxlogins dba_users user$"
)
MYSQL_CRED_TABLES = words_set("user global_priv")

# Credential columns and tables, by the last word(s) of the name, so that
# password_hash and api_key count but password_changed_at and token_count do not.
CRED_WORDS = words_set("password passwd pwd passphrase secret token apikey salt rolpassword")
CRED_PAIRS = pairs(
    "api_key private_key secret_key access_key signing_key password_hash password_digest pass_hash "
    "authentication_string encryption_key"
)
CRED_TABLE_WORDS = words_set("passwords secrets credentials apikeys password credential")
CRED_TABLE_PAIRS = pairs(
    "api_keys api_tokens access_tokens auth_tokens refresh_tokens oauth_tokens session_tokens private_keys "
    "secret_keys access_keys"
)
# Application tables keep privileges in data: SET role = 'admin' is a privilege grant.
ROLE_COLUMNS = words_set(
    "role roles is_admin is_superuser is_staff admin superuser user_type account_type access_level "
    "permission permissions privilege privileges user_role"
)
POWER_WORDS = words_set("admin administrator superuser root owner sysadmin superadmin staff")
NAME_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

# Raw-text statements (sqlglot Command) we know to be harmless: keyword -> class.
COMMAND_CLASS = {
    **dict.fromkeys(("vacuum", "analyze", "reindex", "cluster", "checkpoint", "optimize", "flush"), "admin"),
    "call": "exec",
    **dict.fromkeys(
        ("discard", "reset", "listen", "unlisten", "deallocate", "set", "unlock", "declare", "use"), "session"
    ),
    **dict.fromkeys(("savepoint", "release", "start"), "transaction"),
    **dict.fromkeys(("notify", "refresh", "lock"), "write"),
    **dict.fromkeys(("show", "describe", "desc"), "read"),
}
READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "database_list",
        "compile_options",
        "integrity_check",
        "quick_check",
        "collation_list",
        "function_list",
    }
)
