// Test helper for tst_vault: stores credentials into an existing vault in a
// loop. It prints each credential id on its own line once its write
// transaction has committed, so a test can SIGKILL it at any moment and check
// that every printed id survived.
//
// Usage: agent_vault_burst VAULT_PATH MASTER_KEY_HEX COUNT
#include "agenttestsupport.h"
#include "ids.h"
#include "logging.h"
#include "vault.h"

#include <QCoreApplication>

#include <cstdio>

using namespace Qt::Literals::StringLiterals;
using namespace sealrelay;
using namespace sealrelay::agent;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList arguments = app.arguments();
    if (arguments.size() != 4) {
        std::fprintf(stderr, "usage: agent_vault_burst VAULT_PATH MASTER_KEY_HEX COUNT\n");
        return 2;
    }
    LoggingOptions logging;
    logging.level = u"warn"_s;
    setupLogging(logging);

    const QByteArray masterKey = QByteArray::fromHex(arguments.at(2).toLatin1());
    Result<std::unique_ptr<Vault>> vault = Vault::open(arguments.at(1), masterKey);
    if (!vault) {
        std::fprintf(stderr, "%s\n", qPrintable(vault.error().message));
        return 1;
    }

    const test::TestOrg org;
    const test::TestSecret secret = test::makeSecret();
    const int count = arguments.at(3).toInt();
    for (int i = 0; i < count; ++i) {
        const QString credentialId = newUuid();
        const CredentialStatement fields =
            org.statementFields(credentialId, 1, 1, secret.commitment);
        const SignedStatement statement = org.sign(fields);
        const QByteArray payload = test::makePayload(credentialId, 1, secret);

        LocalAuditEntry entry;
        entry.event = u"credential_stored"_s;
        entry.credentialId = credentialId;
        Result<StatementWriteResult> written =
            vault.value()->storeCredential(statement, fields, payload, entry);
        if (!written || written->outcome != VaultWrite::Written) {
            std::fprintf(stderr, "store %d failed: %s\n", i,
                         written ? "not written" : qPrintable(written.error().message));
            return 1;
        }
        // The id is printed only after the commit returned.
        std::printf("%s\n", qPrintable(credentialId));
        std::fflush(stdout);
    }
    return 0;
}
