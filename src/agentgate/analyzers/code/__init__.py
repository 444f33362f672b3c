"""Code analyzer: what would this program do if the interpreter tool ran it?

Code-interpreter tools (``run_python``, ``execute_python``, ``code_interpreter``,
``python_repl``, Jupyter cells, ``node``/``deno`` eval) and unambiguous program text
sniffed in other arguments are parsed with a real parser (Python's ``ast``;
tree-sitter for JavaScript) and interpreted abstractly: strings are folded, names
followed through aliases, encodings decoded statically (base64/32/16/85, hex, zlib,
gzip, bz2, lzma, rot13, quoted-printable, ``\\x`` and unicode escapes, ``codecs``
layers, ``Buffer.from(..., 'base64')``, ``atob``), and code built or decoded at run
time is analyzed recursively. Notebook shell escapes (``!cmd``, ``%%bash``,
``%system``) are command lines; ``%%javascript`` cells are JavaScript.

What the program touches goes to the analyzer that owns it, through its public
entry: command lines a process runs to the shell analyzer (``shell.*``), SQL a database
client runs (``execute``, ``executescript``, ``read_sql``, ``query`` ...) to the SQL
analyzer (``sql.*``), paths it
opens, writes or deletes to the file-system analyzer (``file.*``: credentials,
persistence locations, system directories, the scope's roots), URLs and hosts it
connects to to the HTTP analyzer (``http.*``: metadata, private addresses, DNS,
the scope's hosts). Its own rules:

======================  ==========  ===========================================================
rule                    effect      what
======================  ==========  ===========================================================
code.obfuscation        block       a process or ``exec`` runs a command/code decoded or unscrambled
                                    at run time (base64..., reversed, character codes), or reaches
                                    ``os.system``/``exec`` reflectively (``getattr``, a module's
                                    ``__dict__``, ``globals()[...]``) or by a computed name
                                    (``__import__('o'+'s')``, ``require('child_'+'process')``),
                                    or reaches ``process`` through ``Function('return process')``
code.remote_code        block       code or a command that arrived over the network (an HTTP
                                    response, a socket) is executed or deserialized
code.reverse_shell      block       a socket duplicated onto stdio, a process whose stdio is a
                                    socket, a socket plus an interactive shell or ``pty``
code.interactive_shell  escalate    a shell started with no command to run (``bash``, ``sh -i``)
                                    or a terminal allocated for a program (``pty.spawn``): the
                                    interactive shell of a foothold, which no task's code needs
code.exfiltration       block       the environment or a credential (secret variable, key file)
                                    sent over the network (HTTP body/URL, socket, DNS name)
code.dynamic            block /     embedded pickles that import callables, ``marshal`` of
                        escalate    embedded bytes, hand-built code objects (block); ``exec``/
                                    ``eval``/``Function``/``vm`` of values not known statically,
                                    imports and ``getattr`` by run-time names (escalate)
code.process            block /     ``LD_PRELOAD``/``PYTHONPATH``/``NODE_OPTIONS``/``PATH``... set for
                        escalate    later processes (block); a process whose command is computed at
                                    run time, signals (escalate)
code.file_search        escalate    walking or globbing the whole filesystem or home directory
code.credential_store   escalate    the OS credential store (``keyring``, ``win32cred``)
code.env_dump           escalate    the whole environment or a secret printed, displayed or
                                    written to a file (it lands in the model's transcript)
code.introspection      block /     ``__subclasses__``/``__globals__``/frame globals (sandbox
                        escalate    escapes) block; ``gc`` walks, ``ctypes`` memory, code and
                                    frame objects escalate
code.operation          block       the code writes or deletes files (``open(p, 'w')``, ``df.to_csv``,
                                    ``os.remove``) while the scope does not allow that operation
code.persistence        block       Windows Run/RunOnce/Winlogon/Services registry keys written
                                    (``winreg``); the value is read as a command line
code.firewall           block       the code imports ``agentgate`` (it must not reconfigure
                                    the firewall that is judging it)
code.unparsable         escalate    the source parses as neither Python nor JavaScript (or a
                                    notebook cell is in a language not read)
code.limit              escalate    too long (16 KiB) or dense, too many evaluation steps, nesting or
                                    decoding layers, or the analysis' time budget exhausted
======================  ==========  ===========================================================

A command the program runs is judged by the shell analyzer as if a shell tool ran it:
``subprocess.run(["git", "status"])`` passes, ``os.system("rm -rf ~")`` blocks; unknown
parts become shell variables (``"$ARG1"``), which the shell analyzer escalates where
they matter (``rm -rf $ARG1``). Code sniffed from an unrelated argument (a document,
a message) keeps only blocking findings; a sniffed text that does not parse is text.

>>> from agentgate._call import ToolCall
>>> from agentgate.analyzers.base import make_context
>>> call = ToolCall("run_python", {"code": "import os\\ngetattr(os, 'sys' + 'tem')('id')"})
>>> sorted({f.rule_id for f in analyze_code(call, make_context(call))})
['code.obfuscation']
>>> call = ToolCall("run_python", {"code": "import pandas as pd\\nprint(pd.read_csv('data.csv').describe())"})
>>> analyze_code(call, make_context(call))
[]
"""

from __future__ import annotations

from ._extract import Extraction, extract
from ._route import analyze_code, code_language, pending_resolutions

__all__ = ["Extraction", "analyze_code", "code_language", "extract", "pending_resolutions"]
