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
    "openrowset opendatasource bulk_insert fsdir edit lsdir file"
)
FILE_READERS = words_set(
    "read_csv read_csv_auto read_json read_json_auto read_ndjson read_ndjson_auto read_parquet parquet_scan "
    "csv_scan read_xlsx"
)
OS_FUNCS = words_set("load_extension sys_exec sys_eval xp_cmdshell sp_oacreate sp_oamethod executable executablepool")
# Connections out of the server; ClickHouse's table functions (url, s3, remote, mysql, ...) included.
NET_FUNCS = words_set(
    "dblink dblink_exec dblink_connect dblink_connect_u dblink_send_query dblink_open openquery url urlcluster "
    "remote remotesecure s3 s3cluster gcs azureblobstorage hdfs hdfscluster mysql postgresql mongodb jdbc odbc "
    "iceberg deltalake hudi"
)
OS_PROCS = words_set("xp_cmdshell sp_oacreate sp_oamethod sp_execute_external_script xp_regwrite xp_dirtree")
PRIV_PROCS = words_set(
    "sp_addsrvrolemember sp_addrolemember sp_addlogin sp_password sp_grantlogin sp_changeobjectowner"
)
UNTRUSTED_LANGS = words_set("c plpythonu plpython2u plpython3u plperlu pltclu plsh plr internal")
DANGEROUS_EXT = words_set(
    "plpythonu plpython2u plpython3u plperlu pltclu plsh adminpack file_fdw dblink postgres_fdw lo plr"
)
FILE_SETTINGS = words_set("general_log_file slow_query_log_file plugin_dir secure_file_priv general_log")

CATALOG_SCHEMAS = words_set("information_schema")
CATALOG_TABLES = words_set(
    "sqlite_master sqlite_schema sqlite_temp_master pg_tables pg_views pg_indexes pg_class pg_attribute "
    "pg_namespace pg_type pg_constraint pg_index pg_description pg_matviews pg_sequences pg_proc "
    "pg_stat_user_tables pg_database pg_roles pg_enum pg_am pg_collation pg_extension pg_inherits pg_trigger "
    "pg_rewrite pg_depend pg_attrdef pg_settings pg_tablespace pg_stat_all_tables pg_statio_user_tables "
    "pg_stat_user_indexes pg_locks all_tables all_tab_columns user_tables user_tab_columns"
)
# T-SQL's metadata views, exempt only under the sys schema (a user table may be called "tables").
SYS_CATALOG_VIEWS = words_set(
    "tables columns objects schemas views indexes index_columns foreign_keys key_constraints types procedures "
    "parameters databases all_columns all_objects"
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

# Functions whose string argument is SQL the server runs: the position of that argument
# (-1: the last string argument, dblink(conn, query) / dblink(query)).
SQL_ARG_FUNCS: dict[str, int] = {
    "query_to_xml": 0,
    "query_to_xmlschema": 0,
    "query_to_xml_and_xmlschema": 0,
    "ts_stat": 0,
    "crosstab": 0,
    "dblink": -1,
    "dblink_exec": -1,
    "dblink_send_query": -1,
    "dblink_open": -1,
}
# Functions that read the table named by their first (string) argument.
TABLE_ARG_FUNCS = words_set("table_to_xml table_to_xmlschema table_to_xml_and_xmlschema")
# Functions that dump every table of a schema or database.
DUMP_FUNCS = words_set(
    "schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema "
    "database_to_xml_and_xmlschema"
)
# Server control: other sessions, configuration reloads, replication, backups, statistics.
ADMIN_FUNCS = words_set(
    "pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_rotate_logfile_old pg_promote "
    "pg_switch_wal pg_wal_replay_pause pg_wal_replay_resume pg_create_restore_point pg_drop_replication_slot "
    "pg_create_logical_replication_slot pg_create_physical_replication_slot pg_copy_logical_replication_slot "
    "pg_copy_physical_replication_slot pg_replication_slot_advance pg_backup_start pg_backup_stop pg_stat_reset "
    "pg_stat_reset_shared pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters "
    "pg_stat_reset_slru pg_stat_reset_replication_slot pg_stat_reset_subscription_stats "
    "pg_log_backend_memory_contexts pg_import_system_collations pg_logical_emit_message pg_replication_origin_create "
    "pg_replication_origin_drop pg_replication_origin_advance pg_logical_slot_get_changes "
    "pg_logical_slot_get_binary_changes lo_unlink"
)
# Volatile built-ins without side effects outside the statement (randomness, clocks,
# sequences, sizes, advisory locks, WAL positions).
HARMLESS_VOLATILE = words_set(
    "random setseed clock_timestamp timeofday gen_random_uuid nextval currval lastval setval txid_status "
    "pg_database_size pg_relation_size pg_table_size pg_indexes_size pg_total_relation_size pg_tablespace_size "
    "pg_is_in_recovery pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn pg_jit_available "
    "pg_advisory_lock pg_advisory_lock_shared pg_advisory_unlock pg_advisory_unlock_all pg_advisory_unlock_shared "
    "pg_advisory_xact_lock pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_lock_shared "
    "pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared pg_blocking_pids pg_lock_status "
    "pg_last_xact_replay_timestamp pg_last_wal_receive_lsn pg_last_wal_replay_lsn pg_xact_commit_timestamp "
    "pg_sequence_last_value pg_notification_queue_usage pg_notify pg_stat_clear_snapshot cursor_to_xml "
    "cursor_to_xmlschema pg_is_wal_replay_paused pg_get_wal_replay_pause_state pg_partition_tree "
    "pg_partition_ancestors pg_safe_snapshot_blocking_pids pg_export_snapshot uuid_generate_v1 uuid_generate_v4 "
    "uuid newid sysdatetime getdate rand uuid_short"
)
# Time-based probes and resource exhaustion: the blind-injection and denial-of-service shapes.
DELAY_FUNCS = words_set("pg_sleep pg_sleep_for pg_sleep_until sleep benchmark waitfor")
# Server settings that guard integrity, auditing or privileges: switching one off is never routine.
GUARD_SETTINGS = words_set(
    "session_replication_role row_security log_statement log_min_messages log_min_error_statement "
    "log_connections log_disconnections pgaudit.log sql_log_bin sql_log_off foreign_key_checks unique_checks "
    "sql_safe_updates default_transaction_read_only transaction_read_only lo_compat_privileges "
    "allow_system_table_mods zero_damaged_pages ignore_system_indexes local_infile general_log "
    "audit_log audit_trail check_function_bodies"
)
# Values that switch such a guard off (session_replication_role = replica disables triggers).
GUARD_OFF_VALUES = words_set("off false 0 no none replica disabled disable")
# Catalog tables that hold data, other sessions' queries or the server's authentication
# rules, not metadata: never exempt from the scope, and read only with a reason.
DATA_CATALOG_TABLES = words_set(
    "pg_largeobject pg_largeobject_metadata pg_statistic pg_statistic_ext_data pg_stats pg_stats_ext "
    "pg_stats_ext_exprs pg_hba_file_rules pg_ident_file_mappings pg_file_settings general_log slow_log"
)
# Activity views: routine to inspect, but they show other sessions' queries, so they are
# not metadata either (the scope's table list applies).
ACTIVITY_TABLES = words_set(
    "pg_stat_activity pg_stat_statements processlist events_statements_current events_statements_history "
    "events_statements_history_long"
)
