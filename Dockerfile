# The microexec image: every consumer and the feeds run from it with a different command.
FROM python:3.11-slim
WORKDIR /opt/microexec
COPY pyproject.toml README.md constraints.txt ./
COPY schemas schemas
COPY streams streams
COPY torghut_domain torghut_domain
COPY consumers consumers
COPY torghut_client torghut_client
COPY producers producers
COPY simulator simulator
COPY microexec microexec
RUN pip install --no-cache-dir -c constraints.txt -e .
ENTRYPOINT ["microexec"]
