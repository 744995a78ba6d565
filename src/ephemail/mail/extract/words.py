"""The words extraction looks for, per language, in one table each.

A code counts only near a word that announces one (`CODE_WORDS`), and not where the nearest
such word says it is something else (`NOT_CODE_WORDS`: a coupon, an order, a postcode, a
phone). Entries are lowercase whole words; one ending in `*` is a stem (`verif*` matches
verify, verification, verifizieren). Chinese has no spaces between words, so its entries
are found inside runs of characters.

Links are sorted by phrases found in their anchor text, the words around a plain-text link,
and their URL (`LINK_WORDS`, substrings of the lowercased text).
"""

from __future__ import annotations

# fmt: off
CODE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("code", "codes", "otp", "verif*", "pin", "passcode", "one-time", "2fa", "mfa",
           "confirmation", "security", "token"),
    "de": ("bestätigungscode", "sicherheitscode", "einmalcode", "einmalpasswort",
           "anmeldecode", "verifizierungscode", "prüfcode", "zugangscode", "tan",
           "bestätigung", "kennwort"),
    "fr": ("vérif*", "confirmation", "usage", "unique", "sécurité", "connexion"),
    "es": ("código", "codigo", "verificación", "verificacion", "confirmación", "seguridad",
           "clave", "uso"),
    "pt": ("código", "verificação", "verificacao", "confirmação", "segurança", "único"),
    "ru": ("код*", "подтвержд*", "провероч*", "пароль", "одноразов*", "пин"),
    "zh": ("验证码", "校验码", "动态码", "确认码", "驗證碼", "验证", "密码"),
    "el": ("κωδικ*", "επαλήθευσ*", "επιβεβαίωσ*", "χρήσης"),
}

NOT_CODE_WORDS: tuple[str, ...] = (
    # a coupon or a price
    "promo", "coupon", "discount", "voucher", "rabatt", "gutschein", "gutscheincode",
    "cupón", "cupom", "descuento", "desconto", "réduction", "скидк*", "промокод*", "优惠",
    "price", "total", "preis", "prix", "precio", "preço", "цена",
    # an order, an invoice, a ticket
    "order", "bestellung", "bestellnummer", "commande", "pedido", "заказ*", "订单",
    "invoice", "rechnung", "facture", "factura", "fatura", "tracking", "sendungsnummer",
    "ticket", "reference", "ref", "customer", "kundennummer",
    # a place or a phone
    "postcode", "zip", "postleitzahl", "plz", "postal", "cep", "индекс", "phone", "tel",
    "telefon", "téléphone", "teléfono", "telefone", "телефон", "电话", "τηλέφωνο", "call",
    "street", "straße", "suite",
)

# Kinds of link, in the order they are tried (the first that matches wins).
LINK_WORDS: dict[str, tuple[str, ...]] = {
    "unsubscribe": ("unsubscribe", "opt-out", "optout", "opt out", "abbestellen",
                    "abmelden vom newsletter", "austragen", "désabonner", "désinscri",
                    "desuscrib", "darse de baja", "cancelar inscrição", "descadastr",
                    "отписат", "退订", "取消订阅", "απεγγραφ", "email preferences",
                    "notification settings", "manage preferences"),
    "reset": ("reset", "forgot", "recover", "password", "passwort", "kennwort",
              "zurücksetzen", "réinitialis", "mot de passe", "restablecer", "contraseña",
              "redefinir", "senha", "recuperar", "сброс", "восстанов", "пароль", "重置",
              "找回", "密码", "επαναφορ", "κωδικού πρόσβασης"),
    "verify": ("verif", "confirm", "activat", "activate", "validat", "bestätig",
               "aktivier", "vérifi", "activer", "valider", "activar", "ativar", "подтверд",
               "активир", "验证", "确认", "激活", "επιβεβαί", "επαλήθευ", "ενεργοποί"),
    "magic": ("magic", "sign in", "sign-in", "signin", "log in", "log-in", "login",
              "anmelden", "einloggen", "se connecter", "connexion", "iniciar sesión",
              "iniciar sessão", "entrar", "войти", "вход", "登录", "σύνδεση", "συνδεθείτε"),
}
# fmt: on
